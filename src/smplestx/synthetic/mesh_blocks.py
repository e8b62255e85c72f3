"""Mesh building blocks of the mannequin: loops, grids, tubes and the vertex regions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .skeleton import _unit

# Region codes of the vertices (used for skinning, regressors and the id sets).
REGIONS = ("torso", "head", "eye_l", "eye_r", "arm_l", "arm_r", "palm_l", "palm_r",
           "index_l", "middle_l", "pinky_l", "ring_l", "thumb_l",
           "index_r", "middle_r", "pinky_r", "ring_r", "thumb_r",
           "leg_l", "leg_r", "foot_l", "foot_r")
_RID = {name: i for i, name in enumerate(REGIONS)}


@dataclass
class _Mesh:
    """Growing triangle mesh; positions given in a side's canonical frame are mirrored on the way in."""

    points: list[np.ndarray] = field(default_factory=list)
    faces: list[np.ndarray] = field(default_factory=list)
    regions: list[np.ndarray] = field(default_factory=list)
    component: list[np.ndarray] = field(default_factory=list)
    count: int = 0
    sign: float = 1.0  # -1 while building a right-side part from left-side geometry
    comp: int = 0

    def add(self, pts: np.ndarray, region: str) -> np.ndarray:
        """Append points (canonical frame) and return their ids."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 3) * (self.sign, 1.0, 1.0)
        ids = np.arange(self.count, self.count + len(pts))
        self.points.append(pts)
        self.regions.append(np.full(len(pts), _RID[region], dtype=np.int64))
        self.component.append(np.full(len(pts), self.comp, dtype=np.int64))
        self.count += len(pts)
        return ids

    def tris(self, t: np.ndarray | list) -> None:
        """Append triangles given with outward winding in the canonical frame."""
        t = np.asarray(t, dtype=np.int64).reshape(-1, 3)
        if self.sign < 0:  # a mirror image flips the winding
            t = t[:, ::-1]
        self.faces.append(t)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Vertices, faces, vertex regions and vertex components as arrays."""
        return (np.concatenate(self.points), np.concatenate(self.faces), np.concatenate(self.regions),
                np.concatenate(self.component))


@dataclass
class _Loop:
    """A closed vertex loop (ids and canonical-frame positions) that a tube can be glued to."""

    ids: np.ndarray
    pts: np.ndarray

    def oriented(self, axis: np.ndarray) -> "_Loop":
        """The same loop, ordered counter-clockwise around ``axis``."""
        u, v = _frame(axis)
        q = self.pts - self.pts.mean(0)
        x, y = q @ u, q @ v
        area = np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
        if area < 0:
            return _Loop(self.ids[::-1].copy(), self.pts[::-1].copy())
        return self


def _frame(axis: np.ndarray, hint: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors u, v with u x v = axis."""
    a = _unit(axis)
    if hint is None:
        hint = np.array([0.0, 1.0, 0.0]) if abs(a[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = _unit(hint - (hint @ a) * a)
    v = np.cross(a, u)
    return u, v


def _angles(pts: np.ndarray, center: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angles of points about ``center`` around ``axis`` (in the frame of :func:`_frame`)."""
    u, v = _frame(axis)
    q = pts - center
    return np.arctan2(q @ v, q @ u)


def _zip(a: _Loop, b: _Loop, axis: np.ndarray) -> np.ndarray:
    """Triangulate the band between loop a and the next loop b (both ccw around axis): len(a)+len(b) faces."""
    center = 0.5 * (a.pts.mean(0) + b.pts.mean(0))
    ta = np.unwrap(_angles(a.pts, center, axis))
    tb_raw = _angles(b.pts, center, axis)
    # start b at the vertex angularly closest to a[0] so the band does not twist
    diff = np.angle(np.exp(1j * (tb_raw - ta[0])))
    s = int(np.argmin(np.abs(diff)))
    bi = np.roll(b.ids, -s)
    tb = np.unwrap(np.roll(tb_raw, -s))
    tb += ta[0] + diff[s] - tb[0]
    na, nb = len(a.ids), len(bi)
    ta = np.append(ta, ta[0] + 2 * np.pi)
    tb = np.append(tb, tb[0] + 2 * np.pi)
    out = []
    i = j = 0
    while i < na or j < nb:
        if j == nb or (i < na and ta[i + 1] <= tb[j + 1]):
            out.append((a.ids[i % na], a.ids[(i + 1) % na], bi[j % nb]))
            i += 1
        else:
            out.append((a.ids[i % na], bi[(j + 1) % nb], bi[j % nb]))
            j += 1
    return np.array(out, dtype=np.int64)


def _fan(ring: np.ndarray, pole: int, pole_ahead: bool) -> np.ndarray:
    """Triangles closing a ccw ring with one pole vertex ahead of it (end) or behind it (start)."""
    r0, r1 = ring, np.roll(ring, -1)
    p = np.full_like(ring, pole)
    return np.stack([r0, r1, p] if pole_ahead else [p, r1, r0], axis=1)


@dataclass(frozen=True)
class _Hole:
    """A rectangle of removed grid cells: rows i0..i1-1, columns j0..j0+nj-1 (mod S)."""

    i0: int
    i1: int
    j0: int
    nj: int


def _grid(mesh: _Mesh, rings: np.ndarray, region: str, bottom: np.ndarray | None, top: np.ndarray | None,
          holes: tuple[_Hole, ...] = ()) -> tuple[np.ndarray, list[_Loop]]:
    """A lofted grid of rings (R, S, 3) (ordered along the axis, ccw around it) with optional poles and holes.

    Returns the (R, S) vertex ids (-1 where a hole removed the vertex) and the hole loops.
    """
    n_r, n_s = rings.shape[:2]
    removed = np.zeros((n_r, n_s), dtype=bool)
    cut = np.zeros((n_r - 1, n_s), dtype=bool)
    for h in holes:
        cols = (h.j0 + np.arange(h.nj)) % n_s
        cut[np.ix_(np.arange(h.i0, h.i1), cols)] = True
        removed[np.ix_(np.arange(h.i0 + 1, h.i1), cols[1:])] = True
    gid = np.full((n_r, n_s), -1, dtype=np.int64)
    keep = ~removed
    gid[keep] = mesh.add(rings[keep], region)
    tris = []
    for i in range(n_r - 1):
        for j in range(n_s):
            if cut[i, j]:
                continue
            j1 = (j + 1) % n_s
            tris.append((gid[i, j], gid[i, j1], gid[i + 1, j]))
            tris.append((gid[i, j1], gid[i + 1, j1], gid[i + 1, j]))
    mesh.tris(tris)
    if bottom is not None:
        mesh.tris(_fan(gid[0], int(mesh.add(bottom, region)[0]), pole_ahead=False))
    if top is not None:
        mesh.tris(_fan(gid[-1], int(mesh.add(top, region)[0]), pole_ahead=True))
    loops = []
    for h in holes:
        cells = [(h.i0, h.j0 + k) for k in range(h.nj + 1)]
        cells += [(i, h.j0 + h.nj) for i in range(h.i0 + 1, h.i1 + 1)]
        cells += [(h.i1, h.j0 + k) for k in range(h.nj - 1, -1, -1)]
        cells += [(i, h.j0) for i in range(h.i1 - 1, h.i0, -1)]
        ii = np.array([c[0] for c in cells])
        jj = np.array([c[1] for c in cells]) % n_s
        loops.append(_Loop(gid[ii, jj], rings[ii, jj]))
    return gid, loops


@dataclass(frozen=True)
class _Station:
    """A cross-section of a tube: centre and half-axes along the transported frame (u, v)."""

    center: tuple[float, float, float]
    ru: float
    rv: float


def _resample_loop(loop: _Loop, center: np.ndarray, u: np.ndarray, v: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Points of a loop (ccw around u x v) at the given angles about ``center`` in the (u, v) frame."""
    q = loop.pts - center
    ang = np.unwrap(np.arctan2(q @ v, q @ u))
    return np.stack([np.interp(alpha, ang, loop.pts[:, k], period=2 * np.pi) for k in range(3)], axis=1)


def _blend_rings(loop: _Loop, ring: np.ndarray, center: np.ndarray, u: np.ndarray, v: np.ndarray,
                 alpha: np.ndarray, count: int) -> list[np.ndarray]:
    """Rings morphing from a hole loop (first) to an elliptic tube ring (last, not included)."""
    lp = _resample_loop(loop, loop.pts.mean(0), u, v, alpha)
    out = []
    for k in range(1, count + 1):
        t = k / (count + 1)
        s = t * t * (3 - 2 * t) * 0.6 + 0.4 * t  # ease in and out, never flat
        out.append((1 - s) * lp + s * ring)
    return out


def _tube(mesh: _Mesh, region: str, stations: list[_Station], n: int, start: _Loop | None,
          end: _Loop | np.ndarray | None, up: np.ndarray, blend: tuple[int, int] = (0, 0)) -> list[np.ndarray]:
    """Loft elliptic rings of n vertices along the stations; glue to loops or close with a pole.

    ``start``/``end`` is a loop to glue to, a point (pole) or None for a pole at the first/last station;
    ``blend`` rings morph from a start/end loop into the tube so junctions have no notches.
    ``up`` is the direction of the u axis at the first station.  Returns the ids of every ring.
    """
    c = np.array([s.center for s in stations], dtype=np.float64)
    d = _unit(np.gradient(c, axis=0))
    u = _unit(up - (up @ d[0]) * d[0])
    alpha = 2 * np.pi * np.arange(n) / n
    rings, frames = [], []
    for k, s in enumerate(stations):
        u = _unit(u - (u @ d[k]) * d[k])  # parallel transport keeps the rings untwisted
        v = np.cross(d[k], u)
        rings.append(c[k] + np.outer(s.ru * np.cos(alpha), u) + np.outer(s.rv * np.sin(alpha), v))
        frames.append((u, v))
    first = last = None
    if isinstance(start, _Loop):
        first = start.oriented(d[0])
        rings = _blend_rings(first, rings[0], c[0], *frames[0], alpha, blend[0]) + rings
    if isinstance(end, _Loop):
        last = end.oriented(d[-1])
        rings = rings + _blend_rings(last, rings[-1], c[-1], *frames[-1], alpha, blend[1])[::-1]
    ids = [mesh.add(r, region) for r in rings]
    for a, b in zip(ids[:-1], ids[1:]):
        mesh.tris(np.stack([a, np.roll(a, -1), b], 1))
        mesh.tris(np.stack([np.roll(a, -1), np.roll(b, -1), b], 1))
    if first is not None:
        mesh.tris(_zip(first, _Loop(ids[0], rings[0]), d[0]))
    else:
        pole = start if start is not None else c[0] - 1e-3 * d[0]
        mesh.tris(_fan(ids[0], int(mesh.add(pole, region)[0]), pole_ahead=False))
    if last is not None:
        mesh.tris(_zip(_Loop(ids[-1], rings[-1]), last, d[-1]))
    else:
        pole = end if end is not None else c[-1] + 1e-3 * d[-1]
        ids.append(mesh.add(pole, region))
        mesh.tris(_fan(ids[-2], int(ids[-1][0]), pole_ahead=True))
    return ids


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 ramp of x between e0 and e1 (e1 < e0 ramps downwards)."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)
