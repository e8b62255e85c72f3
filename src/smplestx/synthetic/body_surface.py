"""The mannequin's body surface profiles: torso, arms, legs, feet, palms and fingers."""

from __future__ import annotations

import numpy as np

from .mesh_blocks import _Hole, _smoothstep, _Station
from .skeleton import _Finger, _finger_points, _FINGERS, _LEFT_JOINTS, FLOOR_Y

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
