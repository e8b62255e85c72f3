"""Foot contacts and the floor: which foot points rest on the ground, and the plane they rest on.

Four foot points per body, in this order everywhere (track files, truth sidecars, metrics):
left heel, left toes, right heel, right toes (the SMPL-X heel vertex joint, and the midpoint of the
big- and small-toe vertex joints). A point is in contact when it is low above the floor and slow,
with hysteresis (on below one threshold, off only above a looser one) and a minimum duration, so
noise does not make contacts flicker; a contact also ends when its point strays along the floor from
where it has been resting (a foot that glides with the body, as a network's can, is not planted). The floor is a plane fitted robustly (RANSAC, then
re-weighted least squares) to the points that carry the body, for all people of a video together.

Frames: positions are metres in one frame shared by the whole video (today the camera frame, OpenCV
axes, y down). A world frame (gravity up, floor at y = 0) plugs in by passing world positions and
an ``up`` hint of (0, 1, 0): nothing here assumes which way is up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

log = logging.getLogger(__name__)

#: Names of the four foot points, in their stored order.
FOOT_POINT_NAMES = ("left_heel", "left_toes", "right_heel", "right_toes")
#: The heel and (big, small) toe vertex joints of each foot in the body model's 144 output joints.
_HEELS = (62, 65)
_TOES = ((60, 61), (63, 64))
#: Kinematic joints: pelvis, and the ankles (left, right).
PELVIS, ANKLES = 0, (7, 8)


@dataclass(frozen=True)
class ContactConfig:
    """Thresholds of the contact detector (metres, metres per second, seconds)."""

    height_on: float = 0.04  # a point lower than this above the floor ...
    speed_on: float = 0.5  # ... and slower than this starts a contact
    height_off: float = 0.07  # a contact ends above this height ...
    speed_off: float = 1.0  # ... or above this speed
    min_duration: float = 0.1  # shorter contacts are dropped (seconds)
    # A contact ends once its point is this far along the floor from the contact's mean position so far: the
    # keep speed is above walking speed, so a foot gliding with the body would otherwise stay "planted" for metres.
    max_travel: float = 0.15
    smooth_frames: float = 1.0  # Gaussian sigma (frames) of the positions the speeds are taken from


def foot_point_vertices(vertex_joint_ids: list[int], first_vertex_joint: int = 55) -> list[list[int]]:
    """Mesh vertices whose mean is each foot point, for a layer whose joints from ``first_vertex_joint`` on are the
    vertices ``vertex_joint_ids`` (SMPL-X: 55 kinematic joints, then ``SMPLX_VERTEX_JOINT_IDS``' order)."""
    groups = ((_HEELS[0],), _TOES[0], (_HEELS[1],), _TOES[1])
    return [[int(vertex_joint_ids[j - first_vertex_joint]) for j in g] for g in groups]


def foot_points(joints: np.ndarray) -> np.ndarray:
    """The four foot points (..., 4, 3) from the body model's output joints (..., J >= 66, 3)."""
    j = np.asarray(joints)
    return np.stack([j[..., _HEELS[0], :], j[..., _TOES[0], :].mean(axis=-2),
                     j[..., _HEELS[1], :], j[..., _TOES[1], :].mean(axis=-2)], axis=-2)


def heights(points: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Signed heights (...,) of points (..., 3) above the plane ``floor`` = (n, d), n . x + d = 0."""
    floor = np.asarray(floor, np.float64)
    return np.asarray(points, np.float64) @ floor[:3] + floor[3]


def _plane_through(points: np.ndarray, weights: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Weighted least-squares plane (4,) through points, normal towards ``up``; level with ``up`` if degenerate."""
    w = weights / weights.sum()
    centre = (w[:, None] * points).sum(axis=0)
    centred = (points - centre) * np.sqrt(w)[:, None]
    _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    normal = vt[2]
    # Points along one line (one person walking straight) leave the tilt about that line open: take the
    # normal closest to ``up`` that is perpendicular to the line.
    if sing[1] < 0.05 * max(sing[0], 1e-12) or sing[1] < 0.03:
        line = vt[0]
        normal = up - (up @ line) * line
    normal = normal / np.linalg.norm(normal)
    if normal @ up < 0:
        normal = -normal
    return np.append(normal, -normal @ centre)


def fit_floor(points: np.ndarray, up: np.ndarray, *, threshold: float = 0.03, iterations: int = 200,
              max_tilt_deg: float = 30.0, seed: int = 0) -> np.ndarray:
    """A plane (4,) fitted robustly to points (N, 3) that mostly lie on the floor: RANSAC, then IRLS.

    ``up``: a rough up direction (the people's feet-to-pelvis direction); planes tilted more than
    ``max_tilt_deg`` from it are not considered. The normal points up (towards the people).
    """
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    up = np.asarray(up, np.float64)
    up = up / np.linalg.norm(up)
    if len(pts) < 3:
        raise ValueError(f"need at least 3 points to fit a floor, got {len(pts)}")
    rng = np.random.default_rng(seed)
    best, best_count = np.ones(len(pts), bool), -1
    cos_tilt = np.cos(np.deg2rad(max_tilt_deg))
    for _ in range(iterations):
        a, b, c = pts[rng.choice(len(pts), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n /= norm
        if abs(n @ up) < cos_tilt:
            continue
        inliers = np.abs((pts - a) @ n) < threshold
        if inliers.sum() > best_count:
            best, best_count = inliers, int(inliers.sum())
    plane = _plane_through(pts[best], np.ones(int(best.sum())), up)
    # Re-weighted least squares (Tukey's biweight) on all points: the plane settles on the bulk of the floor points.
    for _ in range(5):
        r = heights(pts, plane)
        w = np.clip(1.0 - (r / (2 * threshold)) ** 2, 0.0, None) ** 2
        if w.sum() < 3:
            break
        plane = _plane_through(pts, w, up)
    return plane


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D mask."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _smoothed(points: np.ndarray, smooth_frames: float) -> np.ndarray:
    """Points (T, K, 3) Gaussian-smoothed over time (sigma in frames; as they are for 0)."""
    p = np.asarray(points, np.float64)
    return gaussian_filter1d(p, smooth_frames, axis=0, mode="nearest") if smooth_frames > 0 and len(p) > 1 else p


def point_speeds(points: np.ndarray, frames: np.ndarray, fps: float, smooth_frames: float = 1.0) -> np.ndarray:
    """Speeds (T, K) in m/s of points (T, K, 3) seen at ``frames`` (T,), from Gaussian-smoothed positions."""
    p = _smoothed(points, smooth_frames)
    if len(p) < 2:
        return np.zeros(p.shape[:2])
    t = np.asarray(frames, np.float64) / fps
    return np.linalg.norm(np.gradient(p, t, axis=0), axis=-1)


def detect_contacts(points: np.ndarray, frames: np.ndarray, fps: float, floor: np.ndarray,
                    config: ContactConfig = ContactConfig()) -> np.ndarray:
    """Contacts (T, K) bool of foot points (T, K, 3): low and slow, with hysteresis, a bounded travel along the
    floor and a minimum duration."""
    h = heights(points, floor)
    v = point_speeds(points, frames, fps, config.smooth_frames)
    on = (h < config.height_on) & (v < config.speed_on)
    keep = (h < config.height_off) & (v < config.speed_off)
    smooth = _smoothed(points, config.smooth_frames)
    along = smooth - heights(smooth, floor)[..., None] * np.asarray(floor, np.float64)[:3]  # onto the floor
    out = np.zeros_like(on)
    frames = np.asarray(frames)
    for k in range(on.shape[1]):
        state, total, count = False, np.zeros(3), 0
        for t in range(on.shape[0]):
            if state and keep[t, k] and np.linalg.norm(along[t, k] - total / count) <= config.max_travel:
                total, count = total + along[t, k], count + 1
            elif state:
                state = False  # ended: one frame out, so the next contact is a run of its own (its own target)
            elif on[t, k]:
                state, total, count = True, along[t, k].copy(), 1
            out[t, k] = state
        for a, b in _runs(out[:, k]):
            if (frames[b - 1] - frames[a] + 1) / fps < config.min_duration:
                out[a:b, k] = False
    return out


def up_hint(pelvis: np.ndarray, ankles: np.ndarray) -> np.ndarray:
    """Rough up direction (3,): the mean direction from the ankles' midpoint to the pelvis."""
    d = np.asarray(pelvis, np.float64).reshape(-1, 3) - np.asarray(ankles, np.float64).reshape(-1, 2, 3).mean(axis=1)
    d = d.mean(axis=0)
    return d / max(np.linalg.norm(d), 1e-12)


def floor_and_contacts(points: list[np.ndarray], frames: list[np.ndarray], fps: float, up: np.ndarray,
                       config: ContactConfig = ContactConfig(), floor: np.ndarray | None = None
                       ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The floor of a video and each track's contacts, from every track's foot points (T_i, 4, 3).

    First the floor through each frame's lowest foot point (in walking and standing, a foot that
    carries the body); then contacts against it; then the floor again through the contact points.
    A known ``floor`` (n, d) is not fitted: the contacts are found against it.
    """
    if floor is not None:
        floor = np.asarray(floor, np.float64)
        return floor, [detect_contacts(p, f, fps, floor, config) for p, f in zip(points, frames)]
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    lowest = [p[np.arange(len(p)), np.argmin(p @ up, axis=1)] for p in points if len(p)]
    floor = fit_floor(np.concatenate(lowest), up)
    contacts = [detect_contacts(p, f, fps, floor, config) for p, f in zip(points, frames)]
    touching = np.concatenate([p[c] for p, c in zip(points, contacts)]) if contacts else np.zeros((0, 3))
    if len(touching) >= 3:
        floor = fit_floor(touching, up)
        contacts = [detect_contacts(p, f, fps, floor, config) for p, f in zip(points, frames)]
    log.info("floor n=(%.3f, %.3f, %.3f) d=%.3f from %d contact points", *floor, len(touching))
    return floor, contacts
