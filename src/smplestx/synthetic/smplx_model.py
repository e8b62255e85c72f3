"""License-free synthetic SMPL-X body model: a human-like mannequin with the official file layout.

The real SMPL-X files are licensed; this module builds a structurally identical model folder
(``smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz`` plus the three evaluation assets) from simple geometry,
deterministically from a seed (the seed only adds a little individuality: hand PCA basis, finger curl
jitter and a 0.1-sigma shape offset).  Use :func:`write_synthetic_body` or :func:`make_synthetic_arrays`.

Mesh (10475 vertices, 20908 faces, every face wound outwards):

* body, one closed genus-0 surface (F = 2V - 4): a lofted torso grid ending in the neck, with four
  rectangular holes into which the arm and leg tubes are glued; each arm ends in a palm grid with
  holes for the wrist, four fingers and the thumb (tubes with rounded tips); each leg ends in a foot
  grid (heel and big-toe poles) through a hole on its top.  A hidden dome closing the neck inside the
  head absorbs whatever the vertex budget leaves over.
* head, a star-shaped surface around HEAD_CENTER (smooth union of ellipsoids: cranium, face, jaw,
  chin, nose, brows, cheekbones, lips, ears) sampled on a grid that is denser at the face.  The lips
  are split along a 14-edge slit and lead into a flat mouth cavity (upper sheet on the head joint,
  lower sheet on the jaw) whose open far end is the mesh's only boundary (28 edges), so
  F = 2V - 4 + 2 - 28.
* two UV-sphere eyeballs on the eye joints (F = 2V - 4 each).

With 4 components and one 28-edge boundary, 2 * 10475 - 4 * 4 - 26 = 20908 faces exactly.  Vertex ids
are permuted at the end so that every id SMPL-X code reads directly (nose, eyes, ears, toes, heels,
finger tips) sits at the matching spot.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import pickle
import pickletools
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

NUM_VERTICES = 10475
NUM_FACES = 20908
NUM_JOINTS = 55
NUM_SHAPE = 10
NUM_EXPR = 10
NUM_FLAME = 5023
NUM_MANO = 778

#: True SMPL-X kinematic tree (parent of each of the 55 joints; -1 for the root).
PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
     20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
     21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53],
    dtype=np.int64,
)

#: Vertex ids that smplx / SMPLest-X read directly off the mesh (smplx ``vertex_ids['smplx']``).
VERTEX_IDS: dict[str, int] = {
    "nose": 9120, "reye": 9929, "leye": 9448, "rear": 616, "lear": 6,
    "LBigToe": 5770, "LSmallToe": 5780, "LHeel": 8846,
    "RBigToe": 8463, "RSmallToe": 8474, "RHeel": 8635,
    "lthumb": 5361, "lindex": 4933, "lmiddle": 5058, "lring": 5169, "lpinky": 5286,
    "rthumb": 8079, "rindex": 7669, "rmiddle": 7794, "rring": 7905, "rpinky": 8022,
}

#: Finger order of the SMPL-X hand joints (three joints each, starting at joint 25 / 40).
FINGERS = ("index", "middle", "pinky", "ring", "thumb")

#: LSP-14 joints of ``SMPLX_to_J14.pkl`` and the SMPL-X joint each one sits on (head top handled apart).
J14_NAMES = ("R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "R_Wrist", "R_Elbow",
             "R_Shoulder", "L_Shoulder", "L_Elbow", "L_Wrist", "Neck", "Head_top")
_J14_JOINTS = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, -1)

FLOOR_Y = -1.22  # soles of the neutral mannequin (m); the head top is at about +0.48

# ---------------------------------------------------------------------------------------------
# Skeleton (rest joints of the neutral mannequin, metres, y up, facing +z, person's left = +x)
# ---------------------------------------------------------------------------------------------

# Left-side and midline joints; right-side joints are their mirror images (x -> -x).
_LEFT_JOINTS: dict[int, tuple[float, float, float]] = {
    0: (0.0, -0.335, 0.005),
    1: (0.078, -0.425, 0.0),
    3: (0.0, -0.215, -0.02),
    4: (0.092, -0.79, 0.008),
    6: (0.0, -0.08, -0.018),
    7: (0.088, -1.135, -0.035),
    9: (0.0, -0.02, -0.01),
    10: (0.098, -1.197, 0.088),
    12: (0.0, 0.165, -0.022),
    13: (0.07, 0.095, -0.018),
    15: (0.0, 0.265, -0.008),
    16: (0.178, 0.105, -0.022),
    18: (0.44, 0.09, -0.03),
    20: (0.695, 0.085, -0.025),
    22: (0.0, 0.325, 0.008),
    23: (0.032, 0.371, 0.071),
}
_MIRROR_OF = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 23: 24}

EYE_RADIUS = 0.0125
EYE_ROWS, EYE_COLS = 8, 12
HEAD_CENTER = np.array([0.0, 0.36, 0.0])
MOUTH_Y = 0.2985  # height of the lip line (mouth slit)


@dataclass(frozen=True)
class _Finger:
    """Rest geometry of one finger of the left hand (relative to the wrist joint)."""

    name: str
    base: tuple[float, float, float]  # first joint (MCP; CMC for the thumb)
    direction: tuple[float, float, float]
    lengths: tuple[float, float, float]  # joint1->joint2, joint2->joint3, joint3->tip
    radius: float  # proximal half-width of the finger
    palm_z: float = 0.0  # centre of the finger's slot in the palm (z, relative to the wrist)
    palm_hw: float = 0.0  # half-width of that slot


_FINGERS: dict[str, _Finger] = {
    "index": _Finger("index", base=(0.091, -0.003, 0.026), direction=(1.0, 0.0, 0.06),
                     lengths=(0.040, 0.024, 0.022), radius=0.0098, palm_z=0.026, palm_hw=0.0082),
    "middle": _Finger("middle", base=(0.095, -0.002, 0.0065), direction=(1.0, 0.0, 0.0),
                      lengths=(0.044, 0.028, 0.024), radius=0.0102, palm_z=0.0065, palm_hw=0.0086),
    "pinky": _Finger("pinky", base=(0.082, -0.004, -0.032), direction=(1.0, 0.0, -0.12),
                     lengths=(0.032, 0.020, 0.021), radius=0.0086, palm_z=-0.032, palm_hw=0.0072),
    "ring": _Finger("ring", base=(0.090, -0.003, -0.0125), direction=(1.0, 0.0, -0.05),
                    lengths=(0.041, 0.026, 0.023), radius=0.0096, palm_z=-0.0125, palm_hw=0.0082),
    # the thumb leaves the palm forwards (+z) and down; its slot in the palm is _THUMB_HOLE
    "thumb": _Finger("thumb", base=(0.022, -0.014, 0.024), direction=(0.55, -0.28, 0.79),
                     lengths=(0.044, 0.032, 0.027), radius=0.0125),
}
_THUMB_BEND = (0.62, -0.2, 0.76)  # direction of the two distal thumb segments


def _unit(v: np.ndarray) -> np.ndarray:
    """Vectors scaled to unit length along the last axis."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _finger_points(f: _Finger) -> np.ndarray:
    """(4, 3) joint1, joint2, joint3 and tip of a left-hand finger, relative to the wrist."""
    p0 = np.array(f.base)
    d1 = _unit(np.array(f.direction))
    d2 = _unit(np.array(_THUMB_BEND)) if f.name == "thumb" else d1
    p1 = p0 + f.lengths[0] * d1
    p2 = p1 + f.lengths[1] * d2
    p3 = p2 + f.lengths[2] * d2
    return np.stack([p0, p1, p2, p3])


def rest_joints() -> np.ndarray:
    """(55, 3) rest joint positions of the neutral mannequin."""
    j = np.zeros((NUM_JOINTS, 3))
    for k, p in _LEFT_JOINTS.items():
        j[k] = p
    for left, right in _MIRROR_OF.items():
        j[right] = j[left] * (-1.0, 1.0, 1.0)
    wrist = j[20]
    for fi, name in enumerate(FINGERS):
        pts = _finger_points(_FINGERS[name])
        j[25 + 3 * fi: 28 + 3 * fi] = wrist + pts[:3]
        j[40 + 3 * fi: 43 + 3 * fi] = (wrist + pts[:3]) * (-1.0, 1.0, 1.0)
    return j


def _finger_tips() -> dict[str, np.ndarray]:
    """Rest finger-tip points of the left hand by finger name."""
    wrist = np.array(_LEFT_JOINTS[20])
    return {name: wrist + _finger_points(_FINGERS[name])[3] for name in FINGERS}


# ---------------------------------------------------------------------------------------------
# Mesh building blocks
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Body surface: torso (with neck), arms, hands, legs and feet as one closed genus-0 surface
# ---------------------------------------------------------------------------------------------

S_TORSO = 48  # vertices per torso ring
N_ARM = 20
N_LEG = 28
N_FINGER = 10
S_PALM = 16
S_FOOT = 16

# Torso rings bottom (crotch) to top (inside the head): y, half-width, front depth, back depth, centre z.
_TORSO_PROFILE = np.array([
    (-0.472, 0.026, 0.030, 0.034, 0.000),
    (-0.466, 0.070, 0.058, 0.064, 0.000),
    (-0.454, 0.112, 0.080, 0.090, 0.000),
    (-0.434, 0.146, 0.092, 0.104, 0.000),
    (-0.405, 0.163, 0.098, 0.122, 0.000),
    (-0.370, 0.168, 0.100, 0.124, 0.000),
    (-0.330, 0.165, 0.099, 0.112, 0.000),
    (-0.280, 0.156, 0.096, 0.096, 0.000),
    (-0.230, 0.144, 0.093, 0.086, -0.002),
    (-0.180, 0.136, 0.090, 0.080, -0.004),
    (-0.130, 0.138, 0.092, 0.082, -0.006),
    (-0.080, 0.145, 0.098, 0.088, -0.008),
    (-0.030, 0.152, 0.104, 0.092, -0.010),
    (0.010, 0.158, 0.110, 0.094, -0.012),
    (0.045, 0.163, 0.108, 0.094, -0.014),
    (0.078, 0.170, 0.100, 0.092, -0.016),
    (0.108, 0.176, 0.092, 0.088, -0.018),
    (0.134, 0.170, 0.080, 0.080, -0.020),
    (0.153, 0.146, 0.068, 0.070, -0.021),
    (0.168, 0.112, 0.060, 0.063, -0.022),
    (0.181, 0.078, 0.055, 0.059, -0.022),
    (0.198, 0.066, 0.056, 0.060, -0.020),
    (0.228, 0.060, 0.054, 0.058, -0.016),
    (0.258, 0.058, 0.053, 0.057, -0.012),
    (0.288, 0.057, 0.052, 0.056, -0.010),
    (0.318, 0.056, 0.050, 0.055, -0.008),
])
_LEG_HOLE = _Hole(0, 4, 3, 18)  # left leg: crotch rings 0..4, columns 22.5..157.5 degrees
_ARM_HOLE = _Hole(13, 17, 7, 10)  # left arm: rings y 0.01..0.134, columns 52.5..127.5 degrees


def _mirror_hole(h: _Hole, n: int) -> _Hole:
    """The hole at the mirror image (x -> -x) of a grid whose column angle runs from +z towards +x."""
    return _Hole(h.i0, h.i1, (n - h.j0 - h.nj) % n, h.nj)


def _superellipse(t: np.ndarray, a: np.ndarray, b: np.ndarray, power: float) -> tuple[np.ndarray, np.ndarray]:
    """Points of a superellipse (cos-axis a, sin-axis b) at angles t."""
    c, s = np.cos(t), np.sin(t)
    e = 2.0 / power
    return a * np.sign(c) * np.abs(c) ** e, b * np.sign(s) * np.abs(s) ** e


def _torso_rings() -> np.ndarray:
    """(R, S_TORSO, 3) torso rings; the column angle runs from +z (front) towards +x (person's left)."""
    phi = 2 * np.pi * np.arange(S_TORSO) / S_TORSO
    y, a, bf, bb, zc = (_TORSO_PROFILE[:, k:k + 1] for k in range(5))
    depth = np.where(np.cos(phi) >= 0, bf, bb)
    z, x = _superellipse(phi[None, :], depth, a, 2.3)
    # the top of the neck slants down at the front, out of sight through an opened mouth
    front = np.clip(z / bf, 0.0, 1.0)
    yy = y - 0.6 * np.clip(y - 0.23, 0.0, None) * front
    return np.stack([x, yy, z + zc], axis=-1)


def _arm_stations() -> list[_Station]:
    """Left arm cross-sections from the shoulder to the wrist (ru along y, rv along z)."""
    table = [  # x, y, z, ru, rv
        (0.190, 0.098, -0.020, 0.055, 0.052), (0.220, 0.099, -0.021, 0.052, 0.050),
        (0.255, 0.099, -0.022, 0.049, 0.048), (0.290, 0.098, -0.024, 0.047, 0.046),
        (0.325, 0.096, -0.025, 0.044, 0.043), (0.360, 0.094, -0.026, 0.041, 0.041),
        (0.395, 0.092, -0.028, 0.039, 0.039), (0.425, 0.091, -0.029, 0.036, 0.038),
        (0.455, 0.090, -0.030, 0.036, 0.039), (0.490, 0.089, -0.030, 0.037, 0.041),
        (0.525, 0.088, -0.029, 0.035, 0.039), (0.560, 0.087, -0.028, 0.031, 0.036),
        (0.595, 0.086, -0.027, 0.027, 0.033), (0.630, 0.086, -0.026, 0.023, 0.030),
        (0.660, 0.085, -0.025, 0.020, 0.028), (0.680, 0.085, -0.025, 0.019, 0.028),
    ]
    t = np.array(table)
    xs = np.array([0.215, 0.255, 0.295, 0.335, 0.375, 0.41, 0.44, 0.47, 0.51, 0.55, 0.59, 0.63, 0.67])
    cols = [np.interp(xs, t[:, 0], t[:, k]) for k in range(1, 5)]
    return [_Station((x, y, z), ru, rv) for x, y, z, ru, rv in zip(xs, *cols)]


def _leg_stations() -> list[_Station]:
    """Left leg cross-sections from below the crotch to above the ankle (ru along x, rv along z)."""
    table = [  # x, y, z, ru, rv
        (0.090, -0.485, 0.000, 0.086, 0.092), (0.091, -0.530, 0.002, 0.081, 0.086),
        (0.092, -0.580, 0.004, 0.075, 0.080), (0.093, -0.630, 0.005, 0.069, 0.073),
        (0.093, -0.680, 0.006, 0.062, 0.065), (0.093, -0.725, 0.007, 0.056, 0.058),
        (0.093, -0.760, 0.008, 0.053, 0.055), (0.093, -0.795, 0.006, 0.051, 0.053),
        (0.093, -0.830, 0.002, 0.050, 0.054), (0.092, -0.870, -0.004, 0.051, 0.058),
        (0.092, -0.910, -0.008, 0.050, 0.059), (0.091, -0.955, -0.012, 0.046, 0.054),
        (0.090, -1.000, -0.016, 0.040, 0.046), (0.089, -1.045, -0.021, 0.034, 0.039),
        (0.088, -1.085, -0.026, 0.031, 0.035), (0.088, -1.108, -0.030, 0.032, 0.037),
    ]
    t = np.array(table)[::-1]  # increasing y for np.interp
    ys = np.array([-0.50, -0.56, -0.62, -0.68, -0.73, -0.77, -0.80, -0.835, -0.875, -0.92, -0.97, -1.02, -1.065,
                   -1.10])
    cols = [np.interp(ys, t[:, 1], t[:, k]) for k in (0, 2, 3, 4)]
    return [_Station((x, y, z), ru, rv) for y, x, z, ru, rv in zip(ys, *cols)]


# Foot rings heel (back) to toe: z, half-width, top y and bottom y above the floor, centre x (all relative
# to the ankle joint's x / z).  The ankle hole on the top spans rings 4..7.
_FOOT_PROFILE = np.array([
    (-0.064, 0.020, 0.060, 0.012, 0.000),
    (-0.058, 0.028, 0.078, 0.004, 0.000),
    (-0.048, 0.032, 0.090, 0.001, 0.000),
    (-0.036, 0.034, 0.098, 0.000, 0.000),
    (-0.026, 0.036, 0.104, 0.000, 0.000),
    (-0.004, 0.038, 0.106, 0.000, 0.001),
    (0.018, 0.040, 0.100, 0.000, 0.002),
    (0.036, 0.042, 0.088, 0.000, 0.003),
    (0.058, 0.044, 0.074, 0.000, 0.004),
    (0.080, 0.046, 0.062, 0.000, 0.005),
    (0.102, 0.048, 0.052, 0.000, 0.006),
    (0.124, 0.049, 0.043, 0.000, 0.006),
    (0.144, 0.048, 0.036, 0.000, 0.005),
    (0.160, 0.045, 0.031, 0.000, 0.002),
    (0.172, 0.040, 0.027, 0.001, -0.002),
    (0.181, 0.032, 0.023, 0.003, -0.006),
    (0.187, 0.022, 0.019, 0.005, -0.010),
])
_FOOT_HEEL = (-0.068, 0.030, 0.000)  # back pole: z, y above floor, x
_FOOT_TOE = (0.190, 0.011, -0.012)  # front pole (big-toe tip)
_ANKLE_HOLE = _Hole(4, 7, 1, 6)  # rows 4..7, columns 22.5..157.5 degrees (the top of the foot)


def _foot_rings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left foot rings (R, S_FOOT, 3) heel to toe plus the two poles; column angle from +x towards +y."""
    ankle = np.array(_LEFT_JOINTS[7])
    psi = 2 * np.pi * np.arange(S_FOOT) / S_FOOT
    z, w, top, bot, cx = (_FOOT_PROFILE[:, k:k + 1] for k in range(5))
    h = (top - bot) / 2
    cy = FLOOR_Y + (top + bot) / 2
    power = np.where(np.sin(psi) < 0, 3.2, 2.2)  # flat sole, rounded instep
    c, s = np.cos(psi), np.sin(psi)
    x = w * np.sign(c) * np.abs(c) ** (2 / power)
    y = h * np.sign(s) * np.abs(s) ** (2 / power)
    rings = np.stack([ankle[0] + cx + x, cy + y, ankle[2] + np.broadcast_to(z, x.shape)], axis=-1)
    heel = np.array([ankle[0] + _FOOT_HEEL[2], FLOOR_Y + _FOOT_HEEL[1], ankle[2] + _FOOT_HEEL[0]])
    toe = np.array([ankle[0] + _FOOT_TOE[2], FLOOR_Y + _FOOT_TOE[1], ankle[2] + _FOOT_TOE[0]])
    return rings, heel, toe


# Palm rings along z (pinky side to thumb side), relative to the wrist joint: z, size scale.
def _palm_row_z() -> tuple[np.ndarray, np.ndarray]:
    """z of the palm rings (relative to the wrist) and their size scale (rounded ends)."""
    zs = [-0.047, -0.0435]
    scale = [0.55, 0.86]
    for name in ("pinky", "ring", "middle", "index"):
        f = _FINGERS[name]
        zs += list(f.palm_z + f.palm_hw * np.array([-1.0, -1 / 3, 1 / 3, 1.0]))
        scale += [1.0] * 4
    zs += [0.038, 0.042, 0.0455]
    scale += [0.95, 0.8, 0.55]
    return np.array(zs), np.array(scale)


_PALM_PROXIMAL_X = -0.010
_PALM_HALF_THICK = 0.0145
_PALM_CENTER_Y = -0.003


def _palm_distal_x(z: np.ndarray) -> np.ndarray:
    """x of the knuckle edge of the palm along z (relative to the wrist)."""
    names = ("pinky", "ring", "middle", "index")
    zc = np.array([_FINGERS[n].palm_z for n in names])
    xc = np.array([_FINGERS[n].base[0] for n in names]) + 0.004
    zz = np.concatenate([[-0.05], zc, [0.05]])
    xx = np.concatenate([[0.066], xc, [0.078]])
    return np.interp(z, zz, xx)


def _stadium(xp: float, xd: float, q: float) -> np.ndarray:
    """(16, 2) points of a stadium cross-section (x, y) starting at the distal tip, ccw around +z."""
    r45 = np.sqrt(0.5)
    a, b = xd - q, xp + q  # centres of the distal and proximal caps
    top = [a + (b - a) * t for t in (0.25, 0.5, 0.75)]
    pts = [(xd, 0.0), (a + q * r45, q * r45), (a, q)] + [(x, q) for x in top]
    pts += [(b, q), (b - q * r45, q * r45), (xp, 0.0), (b - q * r45, -q * r45), (b, -q)]
    pts += [(x, -q) for x in top[::-1]] + [(a, -q), (a + q * r45, -q * r45)]
    return np.array(pts)


_FINGER_HOLE_COLS = (14, 4)  # j0, nj: the distal cap of the stadium
_WRIST_HOLE = (6, 4)  # the proximal cap
_THUMB_HOLE = _Hole(18, 20, 10, 4)


def _palm_rings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left palm rings (R, S_PALM, 3) and poles, in world coordinates."""
    wrist = np.array(_LEFT_JOINTS[20])
    zs, scale = _palm_row_z()
    xd = _palm_distal_x(zs)
    rings = []
    # the heel of the hand narrows towards the wrist: pull the proximal edge in at the outer rows
    xp = _PALM_PROXIMAL_X + 0.012 * _smoothstep(0.026, 0.05, np.abs(zs + 0.003))
    for z, s, d, p in zip(zs, scale, xd, xp):
        st = _stadium(p, d, _PALM_HALF_THICK)
        mid = np.array([(p + d) / 2, 0.0])
        st = mid + s * (st - mid)
        pts = np.column_stack([st[:, 0], st[:, 1] + _PALM_CENTER_Y, np.full(len(st), z)])
        rings.append(wrist + pts)
    mid_lo = np.array([(xp[0] + xd[0]) / 2, _PALM_CENTER_Y, -0.0495])
    mid_hi = np.array([(xp[-1] + xd[-1]) / 2, _PALM_CENTER_Y, 0.048])
    return np.stack(rings), wrist + mid_lo, wrist + mid_hi


def _palm_holes() -> dict[str, _Hole]:
    """Hole rectangles of the palm grid: one per finger, the wrist and the thumb."""
    holes = {}
    j0, nj = _FINGER_HOLE_COLS
    for k, name in enumerate(("pinky", "ring", "middle", "index")):
        holes[name] = _Hole(2 + 4 * k, 5 + 4 * k, j0, nj)
    holes["wrist"] = _Hole(5, 14, *_WRIST_HOLE)
    holes["thumb"] = _THUMB_HOLE
    return holes


def _finger_stations(f: _Finger, start: np.ndarray) -> list[_Station]:
    """Cross-sections of a left finger from the palm edge (``start``) to a rounded tip."""
    wrist = np.array(_LEFT_JOINTS[20])
    pts = wrist + _finger_points(f)
    # arc-length samples of the polyline start -> joint2 -> joint3 -> tip
    path = np.vstack([start, pts[1:]])
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1]
    r0 = f.radius
    tip_r = 0.8 * r0
    n_body = max(4, int(round((total - tip_r) / 0.0075)))
    ts = list(np.linspace(0.0, total - tip_r, n_body))
    ts += [total - tip_r * (1 - np.sin(a)) for a in (0.5, 0.95)]  # rounded tip
    stations = []
    for t in ts:
        k = min(np.searchsorted(cum, t, side="right") - 1, len(seg) - 1)
        c = path[k] + (t - cum[k]) / seg[k] * (path[k + 1] - path[k])
        frac = t / total
        r = r0 * (1.0 - 0.2 * frac)
        if t > total - tip_r:
            r = tip_r * np.sqrt(max(1e-4, 1 - ((t - (total - tip_r)) / tip_r) ** 2))
        # fingers are a little flatter (y) than wide (z); ru runs along y for the +x fingers
        stations.append(_Station(tuple(c), 0.85 * r, r))
    return stations


# ---------------------------------------------------------------------------------------------
# Head: a star-shaped surface around HEAD_CENTER with a mouth slit, and two eyeballs
# ---------------------------------------------------------------------------------------------

S_HEAD = 96  # columns around the head (denser at the face)
MOUTH_SLIT = 7  # the slit spans columns -7..7 (13 split vertices): the lips are a loop of 28 vertices
_HEAD_WARP = 0.45  # column density: (1 - warp) times the mean spacing at the front

# Ellipsoids of the head (centre, half-axes, tilt about x in rad); smoothly united.
_HEAD_PARTS = (
    ((0.0, 0.386, -0.014), (0.076, 0.096, 0.097), 0.0),  # cranium
    ((0.0, 0.338, 0.022), (0.066, 0.074, 0.072), 0.0),  # mid face, cheeks
    ((0.0, 0.290, 0.034), (0.050, 0.044, 0.058), 0.0),  # jaw
    ((0.0, 0.264, 0.068), (0.021, 0.017, 0.020), 0.0),  # chin
    ((0.0, 0.352, 0.092), (0.0085, 0.025, 0.012), -0.35),  # nose bridge
    ((0.0, 0.333, 0.101), (0.0105, 0.010, 0.011), 0.0),  # nose tip
    ((0.011, 0.330, 0.093), (0.008, 0.007, 0.008), 0.0),  # left ala
    ((-0.011, 0.330, 0.093), (0.008, 0.007, 0.008), 0.0),  # right ala
    ((0.0, 0.393, 0.066), (0.048, 0.012, 0.016), 0.0),  # brow ridge
    ((0.044, 0.355, 0.056), (0.020, 0.015, 0.018), 0.0),  # left cheekbone
    ((-0.044, 0.355, 0.056), (0.020, 0.015, 0.018), 0.0),  # right cheekbone
    ((0.0, 0.3045, 0.087), (0.024, 0.0065, 0.010), 0.0),  # upper lip
    ((0.0, 0.2925, 0.085), (0.021, 0.007, 0.010), 0.0),  # lower lip
    ((0.074, 0.352, -0.012), (0.011, 0.030, 0.018), 0.0),  # left ear
    ((-0.074, 0.352, -0.012), (0.011, 0.030, 0.018), 0.0),  # right ear
)
_EYE_SOCKETS = (((0.032, 0.371, 0.093), (0.019, 0.012, 0.016)), ((-0.032, 0.371, 0.093), (0.019, 0.012, 0.016)))


def _ellipsoid_sdf(p: np.ndarray, c: tuple, r: tuple, tilt: float = 0.0) -> np.ndarray:
    """Approximate signed distance (m) of points p (..., 3) to an ellipsoid tilted about x."""
    x, y, z = p[..., 0] - c[0], p[..., 1] - c[1], p[..., 2] - c[2]
    if tilt:
        cs, sn = np.cos(tilt), np.sin(tilt)
        y, z = cs * y - sn * z, sn * y + cs * z
    k0 = np.sqrt((x / r[0]) ** 2 + (y / r[1]) ** 2 + (z / r[2]) ** 2)
    k1 = np.sqrt((x / r[0] ** 2) ** 2 + (y / r[1] ** 2) ** 2 + (z / r[2] ** 2) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _head_field(p: np.ndarray) -> np.ndarray:
    """Implicit head: negative inside; smooth union of the parts minus the eye sockets."""
    k = 0.006
    d = np.stack([_ellipsoid_sdf(p, c, r, t) for c, r, t in _HEAD_PARTS])
    dmin = d.min(0)
    f = dmin - k * np.log(np.exp(-(d - dmin) / k).sum(0))
    ks = 0.004
    for c, r in _EYE_SOCKETS:
        s = -_ellipsoid_sdf(p, c, r)
        m = np.maximum(f, s)
        f = m + ks * np.log(np.exp((f - m) / ks) + np.exp((s - m) / ks))
    return f


def _head_radius(dirs: np.ndarray) -> np.ndarray:
    """Distance from HEAD_CENTER to the outermost surface crossing along unit directions (N, 3)."""
    ts = np.linspace(0.0, 0.2, 101)  # 2 mm steps: thinner than any head part
    out = np.empty(len(dirs))
    for lo in range(0, len(dirs), 1024):
        dd = dirs[lo:lo + 1024]
        f = _head_field(HEAD_CENTER + ts[None, :, None] * dd[:, None, :])
        inside = f < 0
        last = inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)  # outermost inside sample
        a, b = ts[last], ts[np.minimum(last + 1, len(ts) - 1)]
        for _ in range(24):  # bisection to well below a micrometre
            m = 0.5 * (a + b)
            fin = _head_field(HEAD_CENTER + m[:, None] * dd) < 0
            a, b = np.where(fin, m, a), np.where(fin, b, m)
        out[lo:lo + 1024] = 0.5 * (a + b)
    return out


def _head_columns() -> np.ndarray:
    """Column azimuths (from +z towards +x), denser at the face."""
    s = np.arange(S_HEAD) / S_HEAD
    return 2 * np.pi * s - _HEAD_WARP * np.sin(2 * np.pi * s)


def _surface_angles(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(theta, phi) about HEAD_CENTER of the points of the front of the head at lateral offsets x, heights y."""
    want = np.column_stack([np.ravel(x), np.ravel(y)]).astype(np.float64)
    aim = np.column_stack([want, np.full(len(want), HEAD_CENTER[2] + 0.09)])
    for _ in range(8):  # move the aims until the surface hits have the wanted x and y
        d = _unit(aim - HEAD_CENTER)
        hit = HEAD_CENTER + d * _head_radius(d)[:, None]
        aim[:, :2] += want - hit[:, :2]
    q = aim - HEAD_CENTER
    return np.arctan2(np.hypot(q[:, 0], q[:, 2]), q[:, 1]), np.arctan2(q[:, 0], q[:, 2])


@functools.lru_cache(maxsize=1)
def _mouth_theta() -> float:
    """Polar angle (from +y about HEAD_CENTER) of the lip line at the front."""
    return float(_surface_angles(np.zeros(1), np.full(1, MOUTH_Y))[0][0])


def _head_rows(n_rows: int) -> np.ndarray:
    """Polar angles of the head rings, bottom (near pi) to top, one ring exactly on the lip line."""
    # density: finer between the brow and the chin
    grid = np.linspace(0.0, np.pi, 2001)
    dens = 1.0 + 1.3 * np.exp(-0.5 * ((grid - 1.75) / 0.45) ** 2)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    tm = _mouth_theta()
    cm = np.interp(tm, grid, cdf)
    k = int(round(cm * (n_rows + 1)))
    lo = np.linspace(0.0, cm, k + 1)[1:]  # top part ends exactly at the mouth
    hi = np.linspace(cm, 1.0, n_rows + 1 - k + 1)[1:-1]
    theta = np.interp(np.concatenate([lo, hi]), cdf, grid)
    return theta[::-1]


def _head_surface(n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Head rings (R, S_HEAD, 3), bottom and top poles, and the row index of the mouth ring."""
    theta = _head_rows(n_rows)
    phi = _head_columns()
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    dirs = np.stack([np.sin(th) * np.sin(ph), np.cos(th), np.sin(th) * np.cos(ph)], axis=-1).reshape(-1, 3)
    rings = HEAD_CENTER + dirs * _head_radius(dirs)[:, None]
    poles = np.array([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]])
    pr = _head_radius(poles)
    mouth_row = int(np.argmin(np.abs(theta - _mouth_theta())))
    return rings.reshape(n_rows, S_HEAD, 3), HEAD_CENTER + poles[0] * pr[0], HEAD_CENTER + poles[1] * pr[1], mouth_row


@dataclass
class _HeadInfo:
    """Vertex ids of the head grid (rows bottom to top), the lower-lip copies and the row polar angles."""

    gid: np.ndarray
    lower_lip: np.ndarray
    mouth_row: int
    theta: np.ndarray
    phi: np.ndarray
    face_of_cell: np.ndarray  # (R-1, S, 2) face index (into the head's own face block) per grid cell
    mouth: np.ndarray  # (MOUTH_RINGS, 28) vertex ids of the mouth cavity rings
    mouth_source: np.ndarray  # (28,) lip vertex each cavity column copies its skinning from


MOUTH_RINGS = 3  # rings of the mouth cavity (its far end is the head's one open boundary)


def _build_mouth(mesh: _Mesh, rings: np.ndarray, gid: np.ndarray, lower: np.ndarray, mr: int,
                 lower_pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A flat cavity behind the lips: an upper (head) and a lower (jaw) sheet that part when the jaw opens."""
    cols = np.arange(-MOUTH_SLIT, MOUTH_SLIT + 1) % S_HEAD
    lip = _Loop(np.concatenate([gid[mr, cols], lower[::-1]]),
                np.concatenate([rings[mr, cols], lower_pts[::-1]]))
    # the cavity runs into the head (-z) but its skin faces the cavity: order the lips ccw around +z
    lip = lip.oriented(np.array([0.0, 0.0, 1.0]))
    upper = np.isin(lip.ids, gid[mr, cols])
    spread = np.where(upper, 0.0008, -0.0008)
    spread[np.isin(lip.ids, gid[mr, cols[[0, -1]]])] = 0.0  # mouth corners
    prev, out = lip, []
    for k in range(1, MOUTH_RINGS + 1):
        pts = lip.pts * (1.0 - 0.1 * k, 1.0, 1.0) + np.column_stack(
            [np.zeros(len(spread)), spread * k, np.full(len(spread), -0.008 * k)])
        ids = mesh.add(pts, "head")
        a, b = prev.ids, ids
        mesh.tris(np.stack([a, np.roll(a, -1), b], 1))
        mesh.tris(np.stack([np.roll(a, -1), np.roll(b, -1), b], 1))
        prev = _Loop(ids, pts)
        out.append(ids)
    return np.stack(out), lip.ids


def _build_head(mesh: _Mesh, n_rows: int) -> _HeadInfo:
    """Head grid with poles; the cells just below the lip line use split copies of the lip vertices."""
    rings, bottom, top, mr = _head_surface(n_rows)
    slit = np.arange(-MOUTH_SLIT + 1, MOUTH_SLIT) % S_HEAD
    # tuck the lip edges in (most at the middle) so the closed mouth shows as a line
    tuck = 0.0015 * np.cos(0.5 * np.pi * np.arange(-MOUTH_SLIT + 1, MOUTH_SLIT) / MOUTH_SLIT)[:, None]
    rings[mr, slit] -= tuck * _unit(rings[mr, slit] - HEAD_CENTER)
    gid = mesh.add(rings.reshape(-1, 3), "head").reshape(n_rows, S_HEAD)
    lower = mesh.add(rings[mr, slit] + (0.0, -0.0006, 0.0), "head")  # lips parted by 0.6 mm
    below = gid.copy()
    below[mr, slit] = lower
    tris = []
    for i in range(n_rows - 1):
        g_lo = gid
        g_hi = below if i + 1 == mr else gid  # the row under the lip line uses the lower-lip copies
        for j in range(S_HEAD):
            j1 = (j + 1) % S_HEAD
            tris.append((g_lo[i, j], g_lo[i, j1], g_hi[i + 1, j]))
            tris.append((g_lo[i, j1], g_hi[i + 1, j1], g_hi[i + 1, j]))
    cell = np.arange(2 * (n_rows - 1) * S_HEAD).reshape(n_rows - 1, S_HEAD, 2)
    mesh.tris(tris)
    mesh.tris(_fan(gid[0], int(mesh.add(bottom, "head")[0]), pole_ahead=False))
    mesh.tris(_fan(gid[-1], int(mesh.add(top, "head")[0]), pole_ahead=True))
    mouth, source = _build_mouth(mesh, rings, gid, lower, mr, rings[mr, slit] + (0.0, -0.0006, 0.0))
    return _HeadInfo(gid, lower, mr, _head_rows(n_rows), _head_columns(), cell, mouth, source)


def _build_eye(mesh: _Mesh, region: str) -> tuple[np.ndarray, int]:
    """A UV-sphere eyeball around the left eye joint (poles along z); returns ids and the pupil id."""
    center = np.array(_LEFT_JOINTS[23])
    n_r, n_s = EYE_ROWS, EYE_COLS
    pol = np.pi * np.arange(1, n_r + 1) / (n_r + 1)  # from the back pole to the front pole
    az = 2 * np.pi * np.arange(n_s) / n_s
    pp, aa = np.meshgrid(pol, az, indexing="ij")
    rings = center + EYE_RADIUS * np.stack([np.sin(pp) * np.cos(aa), np.sin(pp) * np.sin(aa), -np.cos(pp)], -1)
    gid, _ = _grid(mesh, rings, region, center - (0, 0, EYE_RADIUS), center + (0, 0, EYE_RADIUS))
    return gid, mesh.count - 1


# ---------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------


@dataclass
class _Built:
    """The rest mesh plus the bookkeeping needed for skinning, regressors and landmarks."""

    verts: np.ndarray
    faces: np.ndarray
    region: np.ndarray
    component: np.ndarray
    head: _HeadInfo
    head_faces: slice
    special: dict[str, int]  # canonical name -> vertex index (before the final id permutation)


def _canonical(loop: _Loop, sign: float) -> _Loop:
    """A loop with its positions in the canonical (left-side) frame of a side."""
    return _Loop(loop.ids, loop.pts * (sign, 1.0, 1.0))


def _loop_normal(loop: _Loop, away_from: np.ndarray) -> np.ndarray:
    """Unit normal of a (roughly planar) loop, pointing away from a point."""
    p = loop.pts
    n = np.sum(np.cross(p, np.roll(p, -1, axis=0)), axis=0)
    n = _unit(n)
    return n if n @ (p.mean(0) - away_from) >= 0 else -n


def _build_hand(mesh: _Mesh, side: str, special: dict[str, int]) -> _Loop:
    """Palm grid with five fingers (canonical left geometry); returns the wrist loop for the arm."""
    rings, lo, hi = _palm_rings()
    holes = _palm_holes()
    names = ("pinky", "ring", "middle", "index", "wrist", "thumb")
    _, loops = _grid(mesh, rings, f"palm_{side}", lo, hi, tuple(holes[n] for n in names))
    by_name = dict(zip(names, loops))
    palm_center = rings.reshape(-1, 3).mean(0)
    for name in FINGERS:
        f = _FINGERS[name]
        loop = by_name[name]
        normal = _loop_normal(loop, palm_center)
        start = loop.pts.mean(0) + (0.006 if name == "thumb" else 0.004) * normal
        stations = _finger_stations(f, start)
        tip = np.array(_LEFT_JOINTS[20]) + _finger_points(f)[3]
        ids = _tube(mesh, f"{name}_{side}", stations, N_FINGER, loop, tip, np.array([0.0, 1.0, 0.0]), blend=(1, 0))
        special[f"{side}{name}"] = int(ids[-1][0])
    return by_name["wrist"]


def _build_arm(mesh: _Mesh, side: str, shoulder: _Loop, wrist: _Loop) -> None:
    """The arm tube from the shoulder hole of the torso to the wrist hole of the palm."""
    _tube(mesh, f"arm_{side}", _arm_stations(), N_ARM, shoulder, wrist, np.array([0.0, 1.0, 0.0]), blend=(2, 2))


def _build_leg(mesh: _Mesh, side: str, hip: _Loop, special: dict[str, int]) -> None:
    """Foot grid (heel and toe poles) and the leg tube from the pelvis hole down to the ankle hole."""
    rings, heel, toe = _foot_rings()
    gid, (ankle,) = _grid(mesh, rings, f"foot_{side}", heel, toe, (_ANKLE_HOLE,))
    special[f"{side}heel"] = mesh.count - 2
    special[f"{side}bigtoe"] = mesh.count - 1
    # small toe: the outer (lateral) front corner of the foot, two rings behind the tip
    row = rings[-3]
    lateral = int(np.argmax(row[:, 0] + 0.3 * row[:, 2]))
    special[f"{side}smalltoe"] = int(gid[-3, lateral])
    _tube(mesh, f"leg_{side}", _leg_stations(), N_LEG, hip, ankle, np.array([1.0, 0.0, 0.0]), blend=(2, 2))


def _cap_sizes(remainder: int) -> list[int]:
    """Ring sizes (decreasing, 3..S_TORSO-4) plus one pole that add exactly ``remainder`` vertices."""
    n = remainder - 1
    if n == 0:
        return []
    k = max(1, int(np.ceil(n / (S_TORSO - 4))))
    base, extra = divmod(n, k)
    sizes = [base + (1 if i < extra else 0) for i in range(k)]
    if min(sizes) < 3:
        raise ValueError(f"cannot close the neck with {remainder} vertices")
    return sizes


def _build_neck_cap(mesh: _Mesh, top: _Loop, remainder: int) -> None:
    """Close the neck inside the head with a dome of hidden rings that soak up the vertex budget."""
    sizes = _cap_sizes(remainder)
    axis = np.array([0.0, 1.0, 0.0])
    center = top.pts.mean(0)
    u, v = _frame(axis, np.array([0.0, 0.0, 1.0]))
    prev = top
    for k, m in enumerate(sizes):
        t = (k + 1) / (len(sizes) + 1)
        ang = 2 * np.pi * (np.arange(m) + 0.5) / m
        rim = _resample_loop(top.oriented(axis), center, u, v, ang)
        pts = center + np.sqrt(1.0 - t * t) * (rim - center) + (0.0, 0.02 * t, 0.0)
        ring = _Loop(mesh.add(pts, "torso"), pts)
        mesh.tris(_zip(prev, ring, axis))
        prev = ring
    pole = mesh.add(center + (0.0, 0.02, 0.0), "torso")
    mesh.tris(_fan(prev.ids, int(pole[0]), pole_ahead=True))


def _build_body(mesh: _Mesh, special: dict[str, int]) -> _Loop:
    """Torso with arms, hands, legs and feet (component 0); returns the open neck-top loop."""
    rings = _torso_rings()
    holes = (_LEG_HOLE, _mirror_hole(_LEG_HOLE, S_TORSO), _ARM_HOLE, _mirror_hole(_ARM_HOLE, S_TORSO))
    crotch = np.array([0.0, _TORSO_PROFILE[0, 0] - 0.004, 0.0])
    gid, (leg_l, leg_r, arm_l, arm_r) = _grid(mesh, rings, "torso", crotch, None, holes)
    top = _Loop(gid[-1], rings[-1])
    for side, sign, leg, arm in (("l", 1.0, leg_l, arm_l), ("r", -1.0, leg_r, arm_r)):
        mesh.sign = sign
        wrist = _build_hand(mesh, side, special)
        _build_arm(mesh, side, _canonical(arm, sign), wrist)
        _build_leg(mesh, side, _canonical(leg, sign), special)
        mesh.sign = 1.0
    return top


def _head_extremes(verts: np.ndarray, head: _HeadInfo, special: dict[str, int]) -> None:
    """Nose tip and ear vertices of the head grid."""
    ids = head.gid.ravel()
    p = verts[ids]
    mid = np.abs(p[:, 0]) < 0.004
    special["nose"] = int(ids[np.argmax(np.where(mid, p[:, 2], -np.inf))])
    ear_band = np.abs(p[:, 1] - 0.352) < 0.012
    special["lear"] = int(ids[np.argmax(np.where(ear_band, p[:, 0], -np.inf))])
    special["rear"] = int(ids[np.argmin(np.where(ear_band, p[:, 0], np.inf))])


def _build_rest_mesh() -> _Built:
    """Build the neutral rest mesh (10475 vertices, 20908 faces) before the final vertex-id permutation."""
    mesh = _Mesh()
    special: dict[str, int] = {}
    top = _build_body(mesh, special)
    n_eye = EYE_ROWS * EYE_COLS + 2
    fixed = mesh.count + 2 * n_eye + (2 * MOUTH_SLIT - 1) + 2 + MOUTH_RINGS * 4 * MOUTH_SLIT
    n_rows = (NUM_VERTICES - fixed - 40) // S_HEAD
    mesh.comp = 1
    face_start = sum(len(f) for f in mesh.faces)
    head = _build_head(mesh, n_rows)
    head_faces = slice(face_start, face_start + 2 * (n_rows - 1) * S_HEAD)
    for comp, (side, sign) in enumerate((("l", 1.0), ("r", -1.0)), start=2):
        mesh.comp, mesh.sign = comp, sign
        _, pupil = _build_eye(mesh, f"eye_{side}")
        special[f"{side}eye"] = pupil
    mesh.comp, mesh.sign = 0, 1.0
    _build_neck_cap(mesh, top, NUM_VERTICES - mesh.count)
    verts, faces, region, comp = mesh.arrays()
    _head_extremes(verts, head, special)
    return _Built(verts, faces, region, comp, head, head_faces, special)


# ---------------------------------------------------------------------------------------------
# Skinning weights
# ---------------------------------------------------------------------------------------------

_FINGER_REGIONS = {f"{name}_{s}": (s, k) for s in "lr" for k, name in enumerate(FINGERS)}


def _side_joints(side: str) -> dict[str, int]:
    """SMPL-X joint indices of one side."""
    left = side == "l"
    return {"hip": 1 if left else 2, "knee": 4 if left else 5, "ankle": 7 if left else 8,
            "foot": 10 if left else 11, "collar": 13 if left else 14, "shoulder": 16 if left else 17,
            "elbow": 18 if left else 19, "wrist": 20 if left else 21, "eye": 23 if left else 24,
            "hand0": 25 if left else 40}


def _candidates(region: str) -> list[int]:
    """Joints whose bones may influence the vertices of a region."""
    if region == "torso":
        return [0, 3, 6, 9, 12, 13, 14, 16, 17, 1, 2, 15]
    if region == "head":
        return [15, 12]
    side = region[-1]
    j = _side_joints(side)
    if region.startswith("eye"):
        return [j["eye"]]
    if region.startswith("arm"):
        return [9, j["collar"], j["shoulder"], j["elbow"], j["wrist"]]
    if region.startswith("palm"):
        return [j["elbow"], j["wrist"]] + [j["hand0"] + 3 * k for k in range(5)] + [j["hand0"] + 13]
    if region in _FINGER_REGIONS:
        base = j["hand0"] + 3 * _FINGER_REGIONS[region][1]
        return [j["wrist"], base, base + 1, base + 2]
    if region.startswith("leg"):
        return [0, 3, j["hip"], j["knee"], j["ankle"]]
    if region.startswith("foot"):
        return [j["ankle"], j["foot"]]
    raise KeyError(region)


def _bones(joints: np.ndarray) -> np.ndarray:
    """(55, 2, 3) bone segment of each joint: the part of the body its rotation carries."""
    b = np.zeros((NUM_JOINTS, 2, 3))
    child = {3: 6, 6: 9, 9: 12, 12: 15, 13: 16, 14: 17, 16: 18, 17: 19, 18: 20, 19: 21,
             1: 4, 2: 5, 4: 7, 5: 8, 7: 10, 8: 11}
    for j, c in child.items():
        b[j] = joints[j], joints[c]
    b[0] = (0.0, -0.42, 0.0), joints[0]
    b[15] = joints[15], joints[15] + (0.0, 0.2, 0.0)
    for side in "lr":
        sj = _side_joints(side)
        sign = 1.0 if side == "l" else -1.0
        b[sj["wrist"]] = joints[sj["wrist"]], joints[sj["wrist"]] + (sign * 0.06, 0.0, 0.0)
        b[sj["foot"]] = joints[sj["foot"]], joints[sj["foot"]] + (0.0, 0.0, 0.09)
        b[sj["ankle"]] = joints[sj["ankle"]] + (0.0, -0.04, -0.05), joints[sj["foot"]]  # heel to ball
        tips = _finger_tips()
        for k, name in enumerate(FINGERS):
            j0 = sj["hand0"] + 3 * k
            tip = tips[name] * (sign, 1.0, 1.0)
            b[j0] = joints[j0], joints[j0 + 1]
            b[j0 + 1] = joints[j0 + 1], joints[j0 + 2]
            b[j0 + 2] = joints[j0 + 2], tip
    return b


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points (N, 3) to the segment a-b."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 ramp of x between e0 and e1 (e1 < e0 ramps downwards)."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2) of a triangle list."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def _smooth(values: np.ndarray, edges: np.ndarray, mask: np.ndarray, iters: int, lam: float = 0.5) -> np.ndarray:
    """Laplacian smoothing of per-vertex rows over mesh edges, only where ``mask`` is set."""
    n = len(values)
    deg = np.bincount(edges.ravel(), minlength=n).astype(np.float64)[:, None]
    out = values.copy()
    for _ in range(iters):
        acc = np.zeros_like(out)
        np.add.at(acc, edges[:, 0], out[edges[:, 1]])
        np.add.at(acc, edges[:, 1], out[edges[:, 0]])
        avg = acc / np.maximum(deg, 1)
        out[mask] = (1 - lam) * out[mask] + lam * avg[mask]
    return out


def _jaw_weight(v: np.ndarray, lower_lip: np.ndarray | None = None) -> np.ndarray:
    """Share of the jaw joint for head vertices: the lower face below the lip line, fading towards the ears.

    Right under the slit the share falls from 1 at the middle of the lip to 0 past the mouth corners, so an
    opening mouth is lens-shaped; further down it blends to 1 over 1.2 cm (chin and lower cheeks rigid).
    """
    q = v - HEAD_CENTER
    phi = np.abs(np.degrees(np.arctan2(q[:, 0], q[:, 2])))
    line = MOUTH_Y + 0.045 * _smoothstep(18.0, 85.0, phi)  # lip line rising towards the ear lobes
    corner = np.degrees(_head_columns()[MOUTH_SLIT])
    lip = 1.0 - _smoothstep(0.0, corner, phi)  # lens-shaped opening: the corners stay put
    depth = 0.02 + 0.012 * _smoothstep(corner, 45.0, phi)  # the cheeks stretch over 2-3 cm
    # the upper lip sits on the line itself: a small margin keeps it (and rounding noise) off the jaw
    below = np.where(v[:, 1] < line - 2e-4, lip + (1.0 - lip) * np.clip((line - v[:, 1]) / depth, 0.0, 1.0), 0.0)
    below = below * below * (3.0 - 2.0 * below)
    if lower_lip is not None:
        below[lower_lip] = lip[lower_lip]
    front = 1.0 - _smoothstep(70.0, 110.0, phi)
    # the skin under the chin joins the neck: no jaw share inside and next to the neck
    reach = np.hypot(v[:, 0], v[:, 2] + 0.01)
    return below * front * _smoothstep(0.05, 0.075, reach)


def _normalise_rows(w: np.ndarray, keep: int = 4, floor: float = 0.01) -> np.ndarray:
    """Keep the ``keep`` largest entries per row above ``floor`` and make each row sum to 1."""
    w = np.where(w >= floor, w, 0.0)
    if w.shape[1] > keep:
        kth = -np.sort(-w, axis=1)[:, keep - 1:keep]
        w = np.where(w >= kth, w, 0.0)
    return w / w.sum(1, keepdims=True)


# Distance multipliers: the trunk's skin follows the pelvis / spine more than the limbs next to it.
_REACH = {("torso", 1): 1.5, ("torso", 2): 1.5, ("torso", 16): 1.15, ("torso", 17): 1.15}


def _skinning(b: _Built, joints: np.ndarray) -> np.ndarray:
    """(V, 55) LBS weights: inverse-distance to the bones of each region's joints, smoothed, 4 per vertex."""
    v = b.verts
    bones = _bones(joints)
    w = np.zeros((len(v), NUM_JOINTS))
    for rid, region in enumerate(REGIONS):
        idx = np.nonzero(b.region == rid)[0]
        if not len(idx):
            continue
        cand = _candidates(region)
        d = np.stack([_segment_distance(v[idx], *bones[j]) * _REACH.get((region, j), 1.0) for j in cand], axis=1)
        raw = (d + 0.004) ** -6.0
        w[np.ix_(idx, cand)] = raw / raw.sum(1, keepdims=True)
    body = b.component == 0
    w = _smooth(w, _edges(b.faces), body, iters=6)
    head = b.region == _RID["head"]
    # head: rigid on the head joint, lower face on the jaw, the lowest (neck) rim blends into the neck
    jaw = _jaw_weight(v, b.head.lower_lip)[head]
    neck = _smoothstep(0.29, 0.25, v[head, 1]) * (1.0 - jaw)
    w[head] = 0.0
    w[head, 22] = jaw
    w[head, 12] = neck
    w[head, 15] = 1.0 - jaw - neck
    w[b.head.mouth] = w[b.head.mouth_source]  # the cavity moves with its lip
    return _normalise_rows(w)


# ---------------------------------------------------------------------------------------------
# Joint regressors
# ---------------------------------------------------------------------------------------------


def _convex_weights(pts: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Non-negative weights summing to 1 with weighted mean ``target``, closest to uniform (None if impossible)."""
    active = np.ones(len(pts), dtype=bool)
    for _ in range(200):
        p = pts[active]
        k = len(p)
        if k < 4:
            return None
        a = np.vstack([p.T, np.ones(k)])
        u = np.full(k, 1.0 / k)
        rhs = np.append(target, 1.0) - a @ u
        lam = np.linalg.lstsq(a @ a.T, rhs, rcond=None)[0]
        w = u + a.T @ lam
        if w.min() >= 0:
            out = np.zeros(len(pts))
            out[active] = w
            return out
        idx = np.nonzero(active)[0]
        active[idx[w < 0]] = False  # drop the vertices pulling the wrong way, solve again
    return None


def _regressor_row(verts: np.ndarray, pool: np.ndarray, target: np.ndarray, k: int,
                   axis: np.ndarray | None = None) -> np.ndarray:
    """A regressor row over the ``k`` vertices of ``pool`` nearest to ``target`` that reproduces it exactly.

    With an ``axis`` (the bone direction) distances along it count three times, so the vertices form a ring
    around the bone at the joint rather than a blob on the nearest side.
    """
    q = verts[pool] - target
    if axis is not None:
        q = q + 2.0 * np.outer(q @ axis, axis)
    d = np.linalg.norm(q, axis=1)
    for kk in (k, 2 * k, 4 * k, 8 * k):
        near = pool[np.argsort(d, kind="stable")[:kk]]
        w = _convex_weights(verts[near], target)
        if w is not None:
            row = np.zeros(len(verts))
            row[near] = w
            return row / row.sum()
    raise RuntimeError(f"joint {target} is outside the mesh")


def _joint_pool(b: _Built, j: int) -> tuple[np.ndarray, int]:
    """Vertices that may regress joint j (its own parts) and how many of the nearest to use."""
    r = b.region
    names: list[str]
    k = 40
    side = "l" if j in (1, 4, 7, 10, 13, 16, 18, 20, 23) or 25 <= j < 40 else "r"
    if j in (0, 3, 6, 9, 12, 13, 14):
        names, k = ["torso"], 60
    elif j in (1, 2):
        names = ["torso", f"leg_{side}"]
    elif j in (4, 5):
        names = [f"leg_{side}"]
    elif j in (7, 8):
        names = [f"leg_{side}", f"foot_{side}"]
    elif j in (10, 11):
        names = [f"foot_{side}"]
    elif j == 15:
        names, k = ["torso", "head"], 60
    elif j in (16, 17):
        names = ["torso", f"arm_{side}"]
    elif j in (18, 19):
        names = [f"arm_{side}"]
    elif j in (20, 21):
        names = [f"arm_{side}", f"palm_{side}"]
    elif j == 22:
        names, k = ["head"], 300
    elif j in (23, 24):
        names, k = [f"eye_{side}"], EYE_ROWS * EYE_COLS + 2
    else:
        f = ((j - 25) % 15) // 3
        names = [f"{FINGERS[f]}_{side}"] + ([f"palm_{side}"] if (j - 25) % 3 == 0 else [])
        if FINGERS[f] == "thumb" and (j - 25) % 3 == 0:
            names = [f"palm_{side}"]
        k = 20
    pool = np.nonzero(np.isin(r, [_RID[n] for n in names]))[0]
    return pool, k


def _j_regressor(b: _Built, joints: np.ndarray) -> np.ndarray:
    """(55, V) regressor whose rows put every joint exactly at its rest position on the neutral mesh."""
    rows = []
    bones = _bones(joints)
    for j in range(NUM_JOINTS):
        pool, k = _joint_pool(b, j)
        axis = None if j in (22, 23, 24) else _unit(bones[j, 1] - bones[j, 0])
        rows.append(_regressor_row(b.verts, pool, joints[j], k, axis))
    return np.stack(rows)


def _j14_regressor(b: _Built, jreg: np.ndarray) -> np.ndarray:
    """(14, V) LSP regressor: SMPL-X joint rows, and the crown of the head for Head_top."""
    out = np.zeros((14, len(b.verts)))
    for i, j in enumerate(_J14_JOINTS):
        if j >= 0:
            out[i] = jreg[j]
    head = np.nonzero(b.region == _RID["head"])[0]
    y = b.verts[head, 1]
    crown = head[y > y.max() - 0.006]
    out[13, crown] = 1.0 / len(crown)
    return out


# ---------------------------------------------------------------------------------------------
# Blend shapes
# ---------------------------------------------------------------------------------------------


def _regions_mask(b: _Built, prefixes: tuple[str, ...]) -> np.ndarray:
    """Vertices of the regions whose name starts with one of the prefixes."""
    ids = [i for i, n in enumerate(REGIONS) if n.startswith(prefixes)]
    return np.isin(b.region, ids)


def _radial(b: _Built, weights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Unit vectors from each vertex's main bone axis (the torso's vertical axis) out to the vertex."""
    v = b.verts
    bones = _bones(joints)
    main = np.argmax(weights, axis=1)
    a, c = bones[main, 0], bones[main, 1]
    ab = c - a
    t = np.clip(np.einsum("ij,ij->i", v - a, ab) / np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12), 0, 1)
    foot = a + t[:, None] * ab
    torso = b.region == _RID["torso"]
    foot[torso] = np.column_stack([np.zeros(torso.sum()), v[torso, 1], np.full(torso.sum(), -0.01)])
    head = b.component > 0
    foot[head] = HEAD_CENTER
    return _unit(v - foot + 1e-9)


def _shape_dirs(b: _Built, weights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V, 3, 10) shape directions of 1-4 cm per unit (size, girth, shoulders, legs, hips, trunk, arms, ...)."""
    v = b.verts
    x, y, z = v.T
    sx = np.sign(x)
    out = np.zeros((len(v), 3, NUM_SHAPE))
    radial = _radial(b, weights, joints)
    torso = b.region == _RID["torso"]
    head = b.component > 0
    arms = _regions_mask(b, ("arm", "palm", "index", "middle", "pinky", "ring", "thumb"))
    legs = _regions_mask(b, ("leg", "foot"))
    limbs = _regions_mask(b, ("arm", "leg"))
    front = np.clip(z / 0.1, 0, 1)
    # 0: overall size, mostly stature (about 4.4 cm taller per unit)
    out[:, :, 0] = (v - joints[0]) * (0.010, 0.026, 0.010)
    # 1: weight: belly and hips most, limbs less, a little in the cheeks
    girth = np.where(torso, 0.012 + 0.012 * front * np.exp(-(((y + 0.17) / 0.12) ** 2)), 0.0)
    girth = girth + np.where(limbs, 0.007, 0.0) + np.where(head, 0.002 * (y < 0.33), 0.0)
    out[:, :, 1] = radial * girth[:, None]
    # 2: shoulder width
    sh = np.where(arms, 1.0, 0.0) + torso * _smoothstep(0.0, 0.17, np.abs(x)) * _smoothstep(-0.1, 0.08, y)
    out[:, 0, 2] = 0.015 * sx * sh
    # 3: leg length (the feet go down, the pelvis stays)
    out[:, 1, 3] = -0.03 * legs * np.clip((joints[1, 1] - y) / (joints[1, 1] - joints[7, 1]), 0, 1)
    # 4: hip width
    hip = np.where(legs, 1.0, 0.0) + torso * np.clip(np.abs(x) / 0.165, 0, 1) * _smoothstep(-0.15, -0.33, y)
    out[:, 0, 4] = 0.012 * sx * hip
    # 5: trunk length: everything above the waist moves up
    out[:, 1, 5] = 0.02 * ~legs * _smoothstep(-0.3, -0.1, y)
    # 6: arm length
    out[:, 0, 6] = 0.025 * sx * arms * np.clip((np.abs(x) - 0.19) / (joints[20, 0] - 0.19), 0, 1)
    # 7: chest depth / bust
    out[:, 2, 7] = 0.015 * torso * front ** 2 * np.exp(-(((y - 0.02) / 0.08) ** 2))
    # 8: head size (about the top of the neck)
    out[:, :, 8] = 0.05 * head[:, None] * (v - (0.0, 0.28, 0.0))
    # 9: limb and neck thickness
    neck = torso * _smoothstep(0.17, 0.2, y) * _smoothstep(0.32, 0.29, y)
    out[:, :, 9] = radial * (0.006 * limbs + 0.004 * neck)[:, None]
    return out


def _gauss(v: np.ndarray, c: tuple, r: tuple) -> np.ndarray:
    """Anisotropic Gaussian bump around c, exactly 0 where it is below 1e-3 (keeps the blend shapes sparse)."""
    q = (v - np.asarray(c)) / np.asarray(r)
    g = np.exp(-0.5 * np.sum(q * q, axis=1))
    return np.where(g > 1e-3, g, 0.0)


def _expr_dirs(b: _Built, flame: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V, 3, 10) face-only expressions, mm per unit: jaw drop, smile, brows up/down, pucker, puff, squint, ..."""
    v = b.verts
    out = np.zeros((len(v), 3, NUM_EXPR))
    sx = np.sign(v[:, 0])
    jaw = _jaw_weight(v, b.head.lower_lip)
    cs, sn = np.cos(0.12), np.sin(0.12)
    q = v - joints[22]
    rot = np.column_stack([q[:, 0], cs * q[:, 1] - sn * q[:, 2], sn * q[:, 1] + cs * q[:, 2]])
    out[:, :, 0] = (rot - q) * jaw[:, None]
    corners = _gauss(v, (0.025, MOUTH_Y, 0.08), (0.01, 0.008, 0.02)) + _gauss(v, (-0.025, MOUTH_Y, 0.08),
                                                                            (0.01, 0.008, 0.02))
    out[:, :, 1] = corners[:, None] * np.column_stack([0.003 * sx, np.full(len(v), 0.004), np.full(len(v), -0.002)])
    brows = _gauss(v, (0.03, 0.392, 0.08), (0.018, 0.01, 0.03)) + _gauss(v, (-0.03, 0.392, 0.08), (0.018, 0.01, 0.03))
    out[:, 1, 2] = 0.004 * brows
    out[:, :, 3] = brows[:, None] * np.column_stack([-0.002 * sx, np.full(len(v), -0.003), np.zeros(len(v))])
    lips = _gauss(v, (0.0, MOUTH_Y, 0.085), (0.02, 0.01, 0.02))
    out[:, :, 4] = lips[:, None] * np.column_stack([-0.15 * v[:, 0], np.zeros(len(v)), np.full(len(v), 0.004)])
    cheeks = _gauss(v, (0.045, 0.325, 0.05), (0.015, 0.018, 0.025)) + _gauss(v, (-0.045, 0.325, 0.05),
                                                                           (0.015, 0.018, 0.025))
    out[:, 0, 5] = 0.004 * sx * cheeks
    out[:, 2, 5] = 0.002 * cheeks
    eyes = _gauss(v, (0.032, 0.36, 0.08), (0.015, 0.007, 0.03)) + _gauss(v, (-0.032, 0.36, 0.08), (0.015, 0.007, 0.03))
    out[:, 1, 6] = 0.002 * eyes
    mouth = _gauss(v, (0.0, MOUTH_Y, 0.085), (0.03, 0.015, 0.02))
    out[:, 0, 7] = 0.004 * mouth
    nose = _gauss(v, (0.0, 0.34, 0.1), (0.015, 0.015, 0.02))
    out[:, 1, 8] = 0.002 * nose
    out[:, 0, 9] = 0.004 * sx * corners
    out[:, 1, 9] = -0.001 * corners
    out[b.head.mouth] = out[b.head.mouth_source]
    mask = np.zeros(len(v), dtype=bool)
    mask[flame] = True
    out[~mask | (b.region != _RID["head"])] = 0.0  # only the face moves
    return out


def _pose_dirs(b: _Built, weights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(V, 3, 486) sparse pose correctives: elbows and knees bulge outwards by up to 8 mm when bent."""
    v = b.verts
    out = np.zeros((len(v), 3, (NUM_JOINTS - 1) * 9))
    radial = _radial(b, weights, joints)
    for j, parent_bone, region in ((18, 16, "arm_l"), (19, 17, "arm_r"), (4, 1, "leg_l"), (5, 2, "leg_r")):
        axis = _unit(joints[j] - joints[parent_bone])
        t = (v - joints[j]) @ axis
        g = np.exp(-0.5 * (t / 0.03) ** 2) * (b.region == _RID[region])
        g = np.where(g > 0.02, g, 0.0)
        # sum of the diagonal of (R - I) is 2 (cos(angle) - 1): spread -amount/2 over the three entries
        for k in (0, 4, 8):
            out[:, :, (j - 1) * 9 + k] = -0.5 * 0.008 * g[:, None] * radial
    return out


def _hand_mean(seed_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Relaxed finger curl (axis-angle per finger joint) of the left and right hands."""
    curl = {"index": (0.15, 0.2, 0.12), "middle": (0.2, 0.25, 0.15), "pinky": (0.3, 0.3, 0.2),
            "ring": (0.25, 0.28, 0.18), "thumb": (0.1, 0.15, 0.15)}
    left = np.zeros((15, 3))
    for k, name in enumerate(FINGERS):
        f = _FINGERS[name]
        d = _unit(np.array(f.direction))
        palm = np.array([0.0, -1.0, 0.0]) if name != "thumb" else _unit(np.array([-0.6, -0.8, 0.0]))
        axis = _unit(np.cross(d, palm))
        for i in range(3):
            left[3 * k + i] = curl[name][i] * axis
    jitter = seed_rng.normal(0.0, 0.01, (15, 3))
    left = left + jitter
    right = left * (1.0, -1.0, -1.0)  # mirror image of an axis-angle: (x, y, z) -> (x, -y, -z)
    return left.reshape(-1), right.reshape(-1)


def _hand_components(rng: np.random.Generator) -> np.ndarray:
    """A random 45 x 45 orthonormal basis (rows)."""
    q, r = np.linalg.qr(rng.normal(size=(45, 45)))
    return (q * np.sign(np.diag(r))).T


# ---------------------------------------------------------------------------------------------
# Face landmarks (iBUG-68 points 17..67 static, 0..16 as a yaw-dependent contour)
# ---------------------------------------------------------------------------------------------

def _static_landmark_targets() -> np.ndarray:
    """(51, 2) x and y of iBUG points 17..67 on the front of the head (the person's right is -x)."""
    brow_r = [(-0.056, 0.389), (-0.047, 0.394), (-0.037, 0.396), (-0.027, 0.395), (-0.016, 0.392)]
    brow_l = [(-x, y) for x, y in brow_r[::-1]]
    bridge = [(0.0, 0.372), (0.0, 0.36), (0.0, 0.348), (0.0, 0.336)]
    nostrils = [(-0.014, 0.326), (-0.007, 0.3235), (0.0, 0.322), (0.007, 0.3235), (0.014, 0.326)]
    eye_r = [(-0.045, 0.371), (-0.037, 0.375), (-0.027, 0.375), (-0.019, 0.370), (-0.027, 0.3665), (-0.037, 0.3665)]
    eye_l = [(0.019, 0.370), (0.027, 0.375), (0.037, 0.375), (0.045, 0.371), (0.037, 0.3665), (0.027, 0.3665)]
    m = MOUTH_Y
    lips_out = [(-0.024, m), (-0.016, m + 0.005), (-0.006, m + 0.0075), (0.0, m + 0.0065), (0.006, m + 0.0075),
                (0.016, m + 0.005), (0.024, m), (0.016, m - 0.0065), (0.006, m - 0.0095), (0.0, m - 0.01),
                (-0.006, m - 0.0095), (-0.016, m - 0.0065)]
    lips_in = [(-0.02, m + 0.0008), (-0.008, m + 0.0012), (0.0, m + 0.0012), (0.008, m + 0.0012), (0.02, m + 0.0008),
               (0.008, m - 0.0012), (0.0, m - 0.0012), (-0.008, m - 0.0012)]
    xy = brow_r + brow_l + bridge + nostrils + eye_r + eye_l + lips_out + lips_in
    return np.array(xy)


def _locate(head: _HeadInfo, theta: float, phi: float) -> tuple[int, np.ndarray]:
    """Head face (index in the head block) and barycentric coords of the surface point at (theta, phi)."""
    th = head.theta  # descending: bottom row first
    i = int(np.clip(np.searchsorted(-th, -theta, side="right") - 1, 0, len(th) - 2))
    s = float(np.clip((th[i] - theta) / (th[i] - th[i + 1]), 0.0, 1.0))
    ph = np.append(head.phi, 2 * np.pi)
    p = phi % (2 * np.pi)
    j = int(np.clip(np.searchsorted(ph, p, side="right") - 1, 0, S_HEAD - 1))
    r = float(np.clip((p - ph[j]) / (ph[j + 1] - ph[j]), 0.0, 1.0))
    if r + s <= 1.0:
        return int(head.face_of_cell[i, j, 0]), np.array([1.0 - r - s, r, s])
    return int(head.face_of_cell[i, j, 1]), np.array([1.0 - s, r + s - 1.0, 1.0 - r])


def _static_landmarks(b: _Built) -> tuple[np.ndarray, np.ndarray]:
    """(51,) face ids and (51, 3) barycentric coords of the static landmarks."""
    faces, bary = [], []
    xy = _static_landmark_targets()
    for theta, phi in zip(*_surface_angles(xy[:, 0], xy[:, 1])):
        f, w = _locate(b.head, float(theta), float(phi))
        faces.append(b.head_faces.start + f)
        bary.append(w)
    return np.array(faces, dtype=np.int64), np.array(bary)


def _jaw_line_point(b: _Built, phi: float) -> tuple[float, float]:
    """(theta, phi) of the jaw line at azimuth phi: chin at the front rising to below the ear lobe."""
    target_y = 0.262 + 0.058 * (min(abs(phi), np.radians(80.0)) / np.radians(80.0)) ** 1.5
    # walk down the head at this azimuth from the lip line and stop where the surface reaches target_y
    th = b.head.theta
    rows = np.arange(b.head.mouth_row, -1, -1)
    cols = b.head.phi
    p = phi % (2 * np.pi)
    j = int(np.searchsorted(cols, p, side="right") - 1) % S_HEAD
    j1 = (j + 1) % S_HEAD
    span = (cols[j1] if j1 else 2 * np.pi) - cols[j]
    r = (p - cols[j]) / span
    ys = (1 - r) * b.verts[b.head.gid[rows, j], 1] + r * b.verts[b.head.gid[rows, j1], 1]
    k = int(np.argmax(ys <= target_y))
    if k == 0:
        return float(th[rows[0]]), phi
    t = (ys[k - 1] - target_y) / max(ys[k - 1] - ys[k], 1e-9)
    return float(th[rows[k - 1]] + t * (th[rows[k]] - th[rows[k - 1]])), phi


def _dynamic_landmarks(b: _Built) -> tuple[np.ndarray, np.ndarray]:
    """(79, 17) contour faces and (79, 17, 3) bary coords; bin b is the neck yaw smplx rounds to it.

    smplx maps a head turned by yaw a (degrees, a = -euler_y) to bin a for a in 0..39 and 39 - a for
    a in -39..-1.  A turn lets the camera see further round one cheek, so the contour there slides
    backwards while the far side stays clear of the silhouette.
    """
    faces = np.zeros((79, 17), dtype=np.int64)
    bary = np.zeros((79, 17, 3))
    for bin_ in range(79):
        yaw = bin_ if bin_ <= 39 else 39 - bin_
        lo, hi = max(-80.0, yaw - 80.0), min(80.0, yaw + 80.0)
        for k, ph in enumerate(np.linspace(lo, hi, 17)):
            f, w = _locate(b.head, *_jaw_line_point(b, np.radians(ph)))
            faces[bin_, k] = b.head_faces.start + f
            bary[bin_, k] = w
    return faces, bary


# ---------------------------------------------------------------------------------------------
# Vertex ids and the evaluation id sets
# ---------------------------------------------------------------------------------------------

_SPECIAL_TO_SMPLX = {
    "nose": "nose", "leye": "leye", "reye": "reye", "lear": "lear", "rear": "rear",
    "lbigtoe": "LBigToe", "lsmalltoe": "LSmallToe", "lheel": "LHeel",
    "rbigtoe": "RBigToe", "rsmalltoe": "RSmallToe", "rheel": "RHeel",
    "lthumb": "lthumb", "lindex": "lindex", "lmiddle": "lmiddle", "lring": "lring", "lpinky": "lpinky",
    "rthumb": "rthumb", "rindex": "rindex", "rmiddle": "rmiddle", "rring": "rring", "rpinky": "rpinky",
}


def _permutation(special: dict[str, int]) -> np.ndarray:
    """order[new_id] = construction index, so that each special vertex lands on its SMPL-X id."""
    order = np.arange(NUM_VERTICES)
    where = np.arange(NUM_VERTICES)  # where[construction index] = current new id
    for name, smplx_name in _SPECIAL_TO_SMPLX.items():
        src, dst = special[name], VERTEX_IDS[smplx_name]
        pos = where[src]
        other = order[dst]
        order[dst], order[pos] = src, other
        where[src], where[other] = dst, pos
    return order


def _flame_ids(b: _Built) -> np.ndarray:
    """The 5023 head and eye vertices, leaving out the lowest ones (under the chin, by the neck)."""
    ids = np.nonzero(b.component > 0)[0]
    keep = np.argsort(-b.verts[ids, 1], kind="stable")[:NUM_FLAME]
    return np.sort(ids[keep])


def _mano_ids(b: _Built, side: str, joints: np.ndarray) -> np.ndarray:
    """The 778 hand vertices farthest from the wrist (all five fingers and the distal palm)."""
    names = [f"palm_{side}"] + [f"{n}_{side}" for n in FINGERS]
    ids = np.nonzero(np.isin(b.region, [_RID[n] for n in names]))[0]
    wrist = joints[_side_joints(side)["wrist"]]
    d = np.abs(b.verts[ids, 0] - wrist[0])
    keep = np.argsort(-d, kind="stable")[:NUM_MANO]
    return np.sort(ids[keep])


# ---------------------------------------------------------------------------------------------
# Model arrays and files
# ---------------------------------------------------------------------------------------------

#: Shape coefficients that turn the neutral mannequin into the male / female one.
_GENDER_BETAS = {
    "neutral": np.zeros(NUM_SHAPE),
    "male": np.array([0.9, 0.3, 1.0, 0.2, -0.8, 0.2, 0.4, -0.3, 0.3, 0.8]),
    "female": np.array([-0.9, -0.1, -1.0, -0.1, 1.2, -0.1, -0.4, 0.9, -0.3, -0.7]),
}


@dataclass
class _Model:
    """Gender-independent arrays of the model (already in SMPL-X vertex order) plus the id sets."""

    arrays: dict[str, np.ndarray]
    flame: np.ndarray
    mano: dict[str, np.ndarray]
    j14: np.ndarray


def _check_budget(b: _Built) -> None:
    """Fail loudly if the geometry no longer matches the SMPL-X counts (e.g. after editing a profile)."""
    hands = {side: np.isin(b.region, [_RID[f"{n}_{side}"] for n in ("palm",) + FINGERS]).sum() for side in "lr"}
    problems = []
    if b.verts.shape[0] != NUM_VERTICES or b.faces.shape[0] != NUM_FACES:
        problems.append(f"{b.verts.shape[0]} vertices / {b.faces.shape[0]} faces")
    if (b.component > 0).sum() < NUM_FLAME:
        problems.append(f"only {(b.component > 0).sum()} head vertices")
    if min(hands.values()) < NUM_MANO:
        problems.append(f"hands of {hands} vertices")
    if problems:
        raise RuntimeError("synthetic body does not fit the SMPL-X layout: " + ", ".join(problems))


def _build_model(seed: int) -> _Model:
    """Everything but the gender-specific template, from one rest mesh."""
    rng = np.random.default_rng(seed)
    b = _build_rest_mesh()
    _check_budget(b)
    joints = rest_joints()
    weights = _skinning(b, joints)
    jreg = _j_regressor(b, joints)
    flame = _flame_ids(b)
    mano = {"left_hand": _mano_ids(b, "l", joints), "right_hand": _mano_ids(b, "r", joints)}
    shapedirs = np.concatenate([_shape_dirs(b, weights, joints), _expr_dirs(b, flame, joints)], axis=2)
    posedirs = _pose_dirs(b, weights, joints)
    lmk_faces, lmk_bary = _static_landmarks(b)
    dyn_faces, dyn_bary = _dynamic_landmarks(b)
    j14 = _j14_regressor(b, jreg)
    hands_meanl, hands_meanr = _hand_mean(rng)
    # small seed-dependent individuality on top of the designed mannequin
    personal = rng.normal(0.0, 0.1, NUM_SHAPE)

    order = _permutation(b.special)
    new_id = np.empty_like(order)
    new_id[order] = np.arange(NUM_VERTICES)
    kintree = np.stack([PARENTS.copy(), np.arange(NUM_JOINTS)])
    kintree[0, 0] = 4294967295  # the official files store the root's parent as uint32(-1)
    arrays = {
        "v_template": b.verts[order] + shapedirs[order, :, :NUM_SHAPE] @ personal,
        "f": new_id[b.faces].astype(np.int32),
        "J_regressor": jreg[:, order],
        "weights": weights[order],
        "kintree_table": kintree.astype(np.int64),
        "shapedirs": shapedirs[order],
        "posedirs": posedirs[order],
        "hands_componentsl": _hand_components(rng),
        "hands_componentsr": _hand_components(rng),
        "hands_meanl": hands_meanl,
        "hands_meanr": hands_meanr,
        "lmk_faces_idx": lmk_faces,
        "lmk_bary_coords": lmk_bary,
        "dynamic_lmk_faces_idx": dyn_faces,
        "dynamic_lmk_bary_coords": dyn_bary,
    }
    return _Model(arrays, np.sort(new_id[flame]), {k: np.sort(new_id[v]) for k, v in mano.items()},
                  j14[:, order].astype(np.float32))


def _gendered(model: _Model, gender: str) -> dict[str, np.ndarray]:
    """The model arrays with the template of a gender."""
    g = gender.lower()
    if g not in _GENDER_BETAS:
        raise ValueError(f"unknown gender {gender!r}; expected neutral, male or female")
    out = dict(model.arrays)
    out["v_template"] = out["v_template"] + out["shapedirs"][:, :, :NUM_SHAPE] @ _GENDER_BETAS[g]
    return out


def make_synthetic_arrays(seed: int = 0, gender: str = "neutral") -> dict[str, np.ndarray]:
    """Arrays of one synthetic ``SMPLX_{GENDER}.npz`` (same keys, shapes and dtypes as the official files)."""
    return _gendered(_build_model(seed), gender)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to a temporary file next to ``path`` and move it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Compressed npz with fixed zip timestamps (np.savez stamps the current time), so equal arrays give equal
    bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, _npy_bytes(np.ascontiguousarray(arr)))
    return buf.getvalue()


def _npy_bytes(arr: np.ndarray) -> bytes:
    """The .npy serialisation of an array (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _array_pickle(obj: object) -> bytes:
    """Protocol-2 pickle of arrays / a dict of arrays that numpy 1.x and 2.x both read.

    numpy 2 names its array rebuilder ``numpy._core.multiarray._reconstruct``, a module numpy 1.x lacks;
    the GLOBAL opcodes are rewritten to the ``numpy.core.multiarray`` alias that both versions resolve.
    """
    data = pickle.dumps(obj, protocol=2)
    out, last = bytearray(), 0
    for op, arg, pos in pickletools.genops(data):
        if op.name != "GLOBAL":
            continue
        module, name = str(arg).split(" ", 1)
        if module.startswith("numpy._core"):
            end = pos + 1 + len(module) + 1 + len(name) + 1  # 'c' module '\n' name '\n'
            out += data[last:pos] + b"c" + module.replace("numpy._core", "numpy.core").encode() + b"\n"
            out += name.encode() + b"\n"
            last = end
    out += data[last:]
    return bytes(out)


def write_synthetic_body(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a synthetic SMPL-X model folder ``out_dir/smplx`` (three genders + evaluation assets); return it."""
    folder = Path(out_dir) / "smplx"
    folder.mkdir(parents=True, exist_ok=True)
    model = _build_model(seed)
    for gender in ("neutral", "male", "female"):
        _atomic_write(folder / f"SMPLX_{gender.upper()}.npz", _npz_bytes(_gendered(model, gender)))
    _atomic_write(folder / "SMPLX_to_J14.pkl", _array_pickle(model.j14))
    _atomic_write(folder / "MANO_SMPLX_vertex_ids.pkl", _array_pickle(model.mano))
    _atomic_write(folder / "SMPL-X__FLAME_vertex_ids.npy", _npy_bytes(model.flame.astype(np.int64)))
    log.info("wrote a synthetic SMPL-X body model (seed %d) to %s", seed, folder)
    return folder
