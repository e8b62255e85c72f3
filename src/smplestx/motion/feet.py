"""Feet on the ground: planted foot points stay put and no foot point sinks below the floor.

``--feet pin`` (:func:`pin_feet`) runs after smoothing, on a whole track set (one video):

1. the floor and each track's contacts (:mod:`.contacts`);
2. per contact of a foot point, one target: the point's median position over the contact, set
   onto the floor;
3. the root translation corrected by the planted points' mean offset from their targets, smoothed
   over time (a normalised Gaussian, so it eases in and out with the contacts);
4. each leg re-solved by analytic two-bone IK: hip and knee turned so the ankle lands where the
   foot's planted points reach their targets (the foot keeps its orientation in space), eased in
   and out over a few frames at contact boundaries, and lifted where a foot point would be below
   the floor. Two passes absorb what the first leaves (pose blend shapes move the foot points a
   little).

Only the root translation and the hip, knee and ankle rotations change: the upper body's rotations,
the hands, the face and the shape are untouched, and bone lengths are those of the shape.
Positions are in the track set's frame (today the camera frame): a world frame plugs in by giving
``up`` (see :mod:`.contacts`).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from ..body import BodyModel
from ..errors import UsageError
from ..geometry.rotations import axis_angle_to_rotmat_np, rotmat_to_axis_angle_np
from .contacts import ANKLES, PELVIS, ContactConfig, floor_and_contacts, foot_points, heights, up_hint
from .tracks import Track, TrackSet

log = logging.getLogger(__name__)

#: The ``--feet`` choices.
FEET_MODES = ("pin", "none")
#: Fewer frames than this (all tracks together) give no floor: the motion is left as it is.
MIN_FRAMES = 5
#: Per leg (left, right): kinematic joints hip, knee, ankle and their body_pose rows; foot point columns.
_LEGS = (((1, 4, 7), (0, 3, 6), (0, 1)), ((2, 5, 8), (1, 4, 7), (2, 3)))
_CHUNK = 256  # frames per body-model pass (bounds memory on long tracks)
_KEEP_JOINTS = 66  # output joints up to the last foot vertex joint


def check_feet_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`FEET_MODES` (ValueError otherwise)."""
    if mode not in FEET_MODES:
        raise UsageError(f"unknown --feet mode {mode!r}; choose one of {', '.join(FEET_MODES)}")
    return mode


def body_joints(body: BodyModel, track: Track) -> np.ndarray:
    """The track's first 66 output joints (T, 66, 3), metres, float64: the 55 kinematic joints, then the face
    and foot vertex joints (the foot points' sources); the landmarks after them are not kept (memory)."""
    out = []
    dev, dt = body.device, body.dtype
    for s in range(0, len(track), _CHUNK):
        sl = slice(s, s + _CHUNK)
        n = len(track.frames[sl])

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a[sl]), dtype=dt, device=dev)

        with torch.no_grad():
            o = body(global_orient=t(track.global_orient), body_pose=t(track.body_pose),
                     left_hand_pose=t(track.left_hand_pose), right_hand_pose=t(track.right_hand_pose),
                     jaw_pose=t(track.jaw_pose), expression=t(track.expression), transl=t(track.transl),
                     betas=torch.as_tensor(np.repeat(np.asarray(track.betas)[None], n, 0), dtype=dt, device=dev))
        out.append(o.joints[:, :_KEEP_JOINTS].double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, _KEEP_JOINTS, 3))


def rest_joints(body: BodyModel, betas: np.ndarray) -> np.ndarray:
    """The kinematic joints (55, 3) of a shape in the rest pose (no rotation, no translation)."""
    with torch.no_grad():
        o = body(betas=torch.as_tensor(np.asarray(betas)[None], dtype=body.dtype, device=body.device))
    return o.joints[0, :55].double().cpu().numpy()


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotations (T, 3, 3) turning directions a (T, 3) onto b (T, 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.arctan2(s, (a * b).sum(-1, keepdims=True))
    aa = np.where(s > 1e-12, axis / np.maximum(s, 1e-12) * angle, 0.0)
    return axis_angle_to_rotmat_np(aa)


def solve_leg(hip: np.ndarray, global_hip: np.ndarray, global_knee: np.ndarray, thigh: np.ndarray,
              shank: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone IK: new global hip and knee rotations (T, 3, 3) that put the ankle at ``target`` (T, 3).

    ``thigh`` and ``shank`` are the rest offsets (3,) hip -> knee and knee -> ankle; the knee stays in
    the plane of the hip, the target and the current knee, and both bones turn the least they can
    (no added twist). A target out of reach is approached along the hip-target line.
    """
    knee = hip + global_hip @ thigh
    ankle = knee + global_knee @ shank
    l1, l2 = float(np.linalg.norm(thigh)), float(np.linalg.norm(shank))
    to = target - hip
    dist = np.linalg.norm(to, axis=-1, keepdims=True)
    u = to / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(l1 - l2) + 1e-6, (l1 + l2) * (1 - 1e-6))
    side = (knee - hip) - ((knee - hip) * u).sum(-1, keepdims=True) * u
    fallback = global_hip[:, :, 2]  # the thigh's forward axis, where the knee is straight
    fallback = fallback - (fallback * u).sum(-1, keepdims=True) * u
    side = np.where(np.linalg.norm(side, axis=-1, keepdims=True) > 1e-6, side, fallback)
    v = side / np.maximum(np.linalg.norm(side, axis=-1, keepdims=True), 1e-12)
    cos_a = np.clip((l1**2 + dist**2 - l2**2) / (2 * l1 * dist), -1.0, 1.0)
    new_knee = hip + l1 * (cos_a * u + np.sqrt(1 - cos_a**2) * v)
    new_ankle = hip + dist * u
    turn_hip = _rotation_between(knee - hip, new_knee - hip)
    shank_now = np.einsum("tij,tj->ti", turn_hip, ankle - knee)
    turn_knee = _rotation_between(shank_now, new_ankle - new_knee)
    return turn_hip @ global_hip, turn_knee @ turn_hip @ global_knee


def _contact_targets(points: np.ndarray, contacts: np.ndarray, floor: np.ndarray,
                     blend: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame and foot point the wanted displacement (T, 4, 3) and its weight (T, 4) in [0, 1].

    Inside a contact the displacement takes the point to the contact's target (weight 1); for
    ``blend`` frames either side it holds the boundary frame's displacement with a weight easing to 0.
    """
    n_frames = len(points)
    disp = np.zeros_like(points)
    weight = np.zeros(points.shape[:2])
    normal = np.asarray(floor[:3], np.float64)
    for k in range(points.shape[1]):
        m = np.concatenate([[False], contacts[:, k], [False]])
        edges = np.flatnonzero(np.diff(m.astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2]):
            target = np.median(points[a:b, k], axis=0)
            target = target - heights(target, floor) * normal  # onto the floor
            disp[a:b, k] = target - points[a:b, k]
            weight[a:b, k] = 1.0
            for i in range(1, blend + 1):
                w = 1.0 - i / (blend + 1)
                w = w * w * (3 - 2 * w)
                for t, edge in ((a - i, a), (b - 1 + i, b - 1)):
                    if 0 <= t < n_frames and w > weight[t, k]:
                        disp[t, k] = disp[edge, k]
                        weight[t, k] = w
    return disp, weight


#: Smoothed contact weight below which a frame's root correction is drawn from its neighbours, not from itself.
_SUPPORT = 1e-3


def _smooth_weighted(values: np.ndarray, weights: np.ndarray, sigma: float, fade: float) -> np.ndarray:
    """Normalised Gaussian smoothing over time of values (T, 3) with weights (T,), carried across frames without
    weight: linear between the contacts on either side, faded out linearly over ``fade`` frames away from them."""
    if not (weights > 0).any():
        return np.zeros_like(values)
    if sigma > 0:
        num = gaussian_filter1d(values * weights[:, None], sigma, axis=0, mode="nearest")
        den = gaussian_filter1d(weights, sigma, mode="nearest")
    else:
        num, den = values * weights[:, None], weights.astype(np.float64)
    known = den > _SUPPORT
    if not known.any():
        return np.zeros_like(values)
    # Dropping to zero where the Gaussian runs out of support would move the root by the whole correction in one
    # frame (a pop); holding it for good would keep a few stray contacts' offset over seconds of motion.
    t = np.arange(len(values))
    idx = np.flatnonzero(known)
    est = num[known] / den[known, None]
    carried = np.stack([np.interp(t, idx, est[:, k]) for k in range(values.shape[1])], axis=1)
    pos = np.clip(np.searchsorted(idx, t), 1, len(idx) - 1) if len(idx) > 1 else np.zeros(len(t), int)
    gap = np.minimum(np.abs(t - idx[pos]), np.abs(t - idx[np.maximum(pos - 1, 0)]))
    return carried * np.clip(1.0 - gap / max(fade, 1.0), 0.0, 1.0)[:, None]


def pin_track(track: Track, body: BodyModel, floor: np.ndarray, contacts: np.ndarray, fps: float, *,
              blend_seconds: float = 0.2, root_sigma_seconds: float = 0.05, root_fade_seconds: float = 0.5,
              passes: int = 2) -> Track:
    """A copy of ``track`` whose planted foot points stay put and whose foot points stay above ``floor``."""
    floor = np.asarray(floor, np.float64)
    contacts = np.asarray(contacts, bool)
    blend = max(1, int(round(blend_seconds * fps)))
    rest = rest_joints(body, track.betas)
    points = foot_points(body_joints(body, track))
    disp, weight = _contact_targets(points, contacts, floor, blend)
    # Root: the planted points' mean displacement, smoothed so that it eases in and out with the contacts.
    total = weight.sum(axis=1)
    mean = (disp * weight[..., None]).sum(axis=1) / np.maximum(total, 1e-12)[:, None]
    root = _smooth_weighted(mean, np.minimum(total, 1.0), root_sigma_seconds * fps, root_fade_seconds * fps)
    transl = np.asarray(track.transl, np.float64) + root
    # Where each foot point should end: the root-shifted point moved (by its weight) towards its target.
    base = points + root[:, None]
    goal = base + weight[..., None] * (points + disp - base)
    pose = np.asarray(track.body_pose, np.float64).copy()
    global_pelvis = axis_angle_to_rotmat_np(track.global_orient)
    for _ in range(passes):
        joints = body_joints(body, replace(track, transl=transl, body_pose=pose))
        now = foot_points(joints)
        for jids, rows, cols in _LEGS:
            hip_j, knee_j, ankle_j = jids
            w = weight[:, cols]
            ankle = joints[:, ankle_j]
            # Heel and toes both planted: turn the foot (about the ankle) so heel-to-toes matches the targets.
            turn = _rotation_between(now[:, cols[1]] - now[:, cols[0]], goal[:, cols[1]] - goal[:, cols[0]])
            turn = axis_angle_to_rotmat_np(rotmat_to_axis_angle_np(turn) * w.min(axis=1, keepdims=True))
            turned = ankle[:, None] + np.einsum("tij,tkj->tki", turn, now[:, cols] - ankle[:, None])
            move = ((goal[:, cols] - turned) * w[..., None]).sum(1) / np.maximum(w.sum(1), 1e-12)[:, None]
            # No foot point below the floor after the move.
            low = heights(turned + move[:, None], floor).min(axis=1)
            move += np.maximum(-low, 0.0)[:, None] * floor[:3]
            r_hip, r_knee, r_ankle = (axis_angle_to_rotmat_np(pose[:, r]) for r in rows)
            g_hip = global_pelvis @ r_hip
            g_knee = g_hip @ r_knee
            g_ankle = turn @ g_knee @ r_ankle
            new_hip, new_knee = solve_leg(joints[:, hip_j], g_hip, g_knee, rest[knee_j] - rest[hip_j],
                                          rest[ankle_j] - rest[knee_j], ankle + move)
            pose[:, rows[0]] = rotmat_to_axis_angle_np(np.swapaxes(global_pelvis, 1, 2) @ new_hip)
            pose[:, rows[1]] = rotmat_to_axis_angle_np(np.swapaxes(new_hip, 1, 2) @ new_knee)
            pose[:, rows[2]] = rotmat_to_axis_angle_np(np.swapaxes(new_knee, 1, 2) @ g_ankle)  # the foot's orientation in space
    return replace(track, transl=transl.astype(np.float32), body_pose=pose.astype(np.float32), contacts=contacts,
                   global_orient_world=None, transl_world=None)  # stale: place_tracks redoes them


def pin_feet(trackset: TrackSet, body: BodyModel, config: ContactConfig = ContactConfig(),
             up: np.ndarray | None = None, floor: np.ndarray | None = None) -> TrackSet:
    """The track set with the floor and contacts found and every track's feet pinned (``--feet pin``); a known
    ``floor`` (n, d) is kept (only the contacts are found)."""
    if sum(len(t) for t in trackset.tracks) < MIN_FRAMES:
        log.info("feet: %d frames in all, too few to find a floor; motion left as it is",
                 sum(len(t) for t in trackset.tracks))
        return trackset
    joints = [body_joints(body, t) for t in trackset.tracks]
    points = [foot_points(j) for j in joints]
    if up is None:
        up = up_hint(np.concatenate([j[:, PELVIS] for j in joints]),
                     np.concatenate([j[:, list(ANKLES)] for j in joints]))
    floor, contacts = floor_and_contacts(points, [t.frames for t in trackset.tracks], trackset.fps, up, config,
                                         floor=floor)
    tracks = [pin_track(t, body, floor, c, trackset.fps) for t, c in zip(trackset.tracks, contacts)]
    return replace(trackset, tracks=tracks, floor=floor, feet="pin")
