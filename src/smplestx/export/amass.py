"""AMASS-style SMPL-X animation ``.npz`` of one track, as the SMPL-X Blender add-on's "Add Animation" reads it.

The add-on (Meshcapade / MPI "SMPL-X for Blender", operator ``object.smplx_add_animation``) requires the keys
``trans``, ``gender``, ``mocap_frame_rate`` (or ``mocap_framerate``), ``betas`` and ``poses``; it reshapes each row
of ``poses`` to (55, 3) in the ``smplx`` joint order (root, 21 body, jaw, left eye, right eye, 15 left hand,
15 right hand), selects the FLAT hand model and sets every bone to that axis-angle directly, sets the pelvis
bone location from ``trans`` and, for format "AMASS", rotates the root by -90 deg about x because AMASS is z up.

So this file is in AMASS's conventions:

- world frame **z up**: ``x`` right, ``y`` away from the camera, ``z`` up, i.e. ``camera -> world`` is a
  +90 deg rotation about x (:data:`CAMERA_TO_AMASS`); ``root_orient`` / ``poses[:, :3]`` and ``trans`` are
  re-expressed so that an SMPL-X layer with ``flat_hand_mean=True`` and these betas gives the posed joints of
  the track rotated into that frame: ``trans = W (transl + J_pelvis) - J_pelvis``;
- hand poses **include** the hand mean (AMASS / the add-on use the flat-hand convention), unlike the results
  and track files, which follow SMPLest-X (hand mean added by the layer);
- eyes are zero (not estimated); ``betas`` has the track's 10 coefficients (``num_betas`` = 10);
- also written: ``mocap_time_length`` (seconds), ``surface_model_type`` = ``"smplx"``, the split pose keys of
  AMASS's SMPL-X files (``root_orient``, ``pose_body``, ``pose_hand``, ``pose_jaw``, ``pose_eye``) and
  ``expression`` (T, 10) (an extra; the add-on ignores it).

All arrays are float64 except the strings; no object arrays (loads with ``allow_pickle=False``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..io.atomic import atomic_path as _atomic_path
from ..nn.rotations import rotmat_to_axis_angle
from .skeleton import Skeleton

log = logging.getLogger(__name__)

#: Camera frame (x right, y down, z forward) -> AMASS world (x right, y forward, z up): +90 deg about x.
CAMERA_TO_AMASS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

#: Keys the SMPL-X Blender add-on requires.
ADDON_KEYS = ("trans", "gender", "mocap_frame_rate", "betas", "poses")


def amass_arrays(skel: Skeleton, fps: float, gender: str) -> dict[str, np.ndarray]:
    """The AMASS-style arrays of ``skel`` (a track without gaps) at ``fps``."""
    if len(skel) > 1 and (np.diff(skel.frames) != 1).any():
        raise ValueError("AMASS files need one pose per frame (densify the track first)")
    t = len(skel)
    w = CAMERA_TO_AMASS
    root_rot = w @ skel.local_rot[:, 0]
    root = rotmat_to_axis_angle(torch.as_tensor(root_rot)).numpy()
    pelvis_rest = skel.offsets[:, 0]  # (T, 3) the rest pelvis of each frame (expression moves it, if at all)
    transl = skel.root_pos - pelvis_rest
    trans = (transl + pelvis_rest) @ w.T - pelvis_rest
    # The skeleton's local rotations already include the hand mean; back to axis-angle joint by joint.
    local = rotmat_to_axis_angle(torch.as_tensor(skel.local_rot[:, 1:])).numpy()  # (T, 54, 3)
    poses = np.concatenate([root[:, None], local], axis=1).reshape(t, 165)
    return {
        "poses": poses.astype(np.float64),
        "trans": trans.astype(np.float64),
        "betas": skel.betas.astype(np.float64),
        "num_betas": np.array(len(skel.betas), dtype=np.int64),
        "gender": np.array(gender),
        "surface_model_type": np.array("smplx"),
        "mocap_frame_rate": np.array(float(fps)),
        "mocap_time_length": np.array(t / float(fps)),
        "root_orient": poses[:, 0:3].copy(),
        "pose_body": poses[:, 3:66].copy(),
        "pose_jaw": poses[:, 66:69].copy(),
        "pose_eye": poses[:, 69:75].copy(),
        "pose_hand": poses[:, 75:165].copy(),
        "expression": skel.expression.astype(np.float64),
    }


def write_amass(path: str | os.PathLike[str], skel: Skeleton, fps: float, gender: str = "neutral") -> Path:
    """Write the AMASS-style ``.npz`` of ``skel`` (see the module docstring); atomic. Returns the path."""
    path = Path(path)
    arrays = amass_arrays(skel, fps, gender)
    with _atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    log.info("wrote %s (%d frames)", path, len(skel))
    return path
