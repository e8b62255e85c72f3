"""The mannequin's head: a star-shaped surface with a mouth slit, a mouth cavity and two eyeballs."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .mesh_blocks import _fan, _grid, _Loop, _Mesh
from .skeleton import _LEFT_JOINTS, _unit, EYE_COLS, EYE_RADIUS, EYE_ROWS, HEAD_CENTER, MOUTH_Y

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
