"""The world frame of a video (y up, the floor at y = 0, metres) and rigid moves of SMPL-X roots into it.

A camera pose is "world from camera": ``X_world = R X_cam + t`` with ``R`` (3, 3) and ``t`` (3,), the camera in
the OpenCV convention (x right, y down, z forward). A rigid move of a body is folded into its root alone:

    R_root' = R R_root,    J_pelvis + transl' = R (J_pelvis + transl) + t

where ``J_pelvis`` is the body's rest pelvis (it depends on the shape), because SMPL-X rotates the body about it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..body import BodyModel
from ..nn.rotations import axis_angle_to_rotmat, rotmat_to_axis_angle
from .feet import rest_joints
from .tracks import TrackSet, camera_at

#: World from camera of a level camera looking along the world's -z (a half turn about x: camera y down -> world y up).
LEVEL_CAMERA = np.diag([1.0, -1.0, -1.0])


def move_root(global_orient: np.ndarray, transl: np.ndarray, pelvis: np.ndarray, rotation: np.ndarray,
              translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root orientation (..., 3) and transl (..., 3) after the rigid move ``X' = R X + t`` (R (..., 3, 3), t (..., 3)).

    ``pelvis`` (..., 3) is the rest pelvis of each body; every argument broadcasts against the others.
    """
    go = np.asarray(global_orient, np.float64)
    r = np.asarray(rotation, np.float64)
    root = axis_angle_to_rotmat(torch.from_numpy(go), eps=0.0).numpy()
    new_go = rotmat_to_axis_angle(torch.from_numpy(r @ root)).numpy()
    p = np.asarray(pelvis, np.float64)
    moved = np.einsum("...ij,...j->...i", r, p + np.asarray(transl, np.float64)) + np.asarray(translation, np.float64)
    return new_go, moved - p


def invert_pose(rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse rigid move of ``X' = R X + t`` (arrays (..., 3, 3) and (..., 3)): ``X = R^T X' - R^T t``."""
    rt = np.swapaxes(np.asarray(rotation, np.float64), -1, -2)
    return rt, -np.einsum("...ij,...j->...i", rt, np.asarray(translation, np.float64))


def apply_pose(rotation: np.ndarray, translation: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., N, 3) moved by ``X' = R X + t`` (R (..., 3, 3), t (..., 3))."""
    r = np.asarray(rotation, np.float64)
    return np.einsum("...ij,...nj->...ni", r, np.asarray(points, np.float64)) + np.asarray(translation, np.float64)[..., None, :]


def floor_in_camera(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """The world floor (y = 0) as a camera-frame plane (n, d), n . x + d = 0 with n pointing up (track files' form)."""
    up = np.array([0.0, 1.0, 0.0])
    return np.concatenate([np.asarray(rotation, np.float64).T @ up, [float(up @ np.asarray(translation, np.float64))]])


def place_tracks(trackset: TrackSet, body: BodyModel, camera_frames: np.ndarray, rotation: np.ndarray,
                 translation: np.ndarray, moving: bool) -> TrackSet:
    """The track set with its camera path (source frames (F,), world-from-camera (F, 3, 3), (F, 3)) and every
    track's ``global_orient_world`` and ``transl_world``: each frame's root moved by that frame's camera."""
    ts = replace(trackset, camera_frames=np.asarray(camera_frames, np.int64),
                 camera_rotation=np.asarray(rotation, np.float64), camera_translation=np.asarray(translation, np.float64),
                 camera="moving" if moving else "static")
    tracks = []
    for t in ts.tracks:
        r, tr = camera_at(ts, t.frames)
        go, transl = move_root(t.global_orient, t.transl, rest_joints(body, t.betas)[0], r, tr)
        tracks.append(replace(t, global_orient_world=go.astype(np.float32), transl_world=transl.astype(np.float32)))
    return replace(ts, tracks=tracks)


__all__ = ["LEVEL_CAMERA", "apply_pose", "floor_in_camera", "invert_pose", "move_root", "place_tracks"]
