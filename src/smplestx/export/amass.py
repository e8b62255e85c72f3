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

:func:`read_amass_motion` reads these files back, and AMASS's own SMPL-X files (``poses`` (T, 165) or the split
keys, 16 betas): shape and expression beyond the body model's 10 are dropped with a warning when not zero.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path as _atomic_path
from ..io.npz import read_npz_arrays
from .skeleton import Skeleton
from .smplx_world import MAX_FRAMES, MotionFileError, WorldMotion, check_values, world_pose

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
    pose, trans = world_pose(skel, CAMERA_TO_AMASS)
    poses = pose.reshape(t, 165)
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


#: Pose values per frame of the AMASS body models smplestx does not read, to name them in the error.
_OTHER_MODELS = {72: "SMPL", 156: "SMPL-H", 162: "SMPL-H"}


def _text(arrays: dict[str, np.ndarray], key: str, default: str) -> str:
    """A string entry (unicode or bytes, any shape holding one value) or ``default``."""
    if key not in arrays:
        return default
    a = arrays[key]
    if a.dtype.kind not in "US" or a.size != 1:
        return default
    v = a.reshape(())[()]
    return (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip().lower()


def read_amass_motion(path: str | os.PathLike[str]) -> tuple[WorldMotion, float | None]:
    """An AMASS SMPL-X ``.npz`` (z up, flat hands; ours or AMASS's) as a world motion and its frame rate (or None)."""
    path = Path(path)
    where = str(path)
    arrays = read_npz_arrays(path, "AMASS", MotionFileError)
    model = _text(arrays, "surface_model_type", "smplx")
    if model != "smplx":
        raise MotionFileError(f"{where}: an AMASS file of the {model} body model; "
                              "smplestx reads AMASS SMPL-X files only")
    if "poses" in arrays:
        raw = arrays["poses"]
        if raw.ndim != 2 or raw.shape[1] != 165:
            width = raw.shape[1] if raw.ndim == 2 else -1
            name = _OTHER_MODELS.get(width, f"an unknown body model ({raw.shape} poses)")
            raise MotionFileError(f"{where}: an AMASS file of {name}; smplestx reads AMASS SMPL-X files only "
                                  "(poses of 165 values per frame)")
    elif "root_orient" in arrays and "pose_body" in arrays:
        t = arrays["root_orient"].shape[0] if arrays["root_orient"].ndim == 2 else -1
        if t > MAX_FRAMES:
            raise MotionFileError(f"{where}: {t} frames; smplestx reads at most {MAX_FRAMES} per file")
        parts = [("root_orient", 3), ("pose_body", 63), ("pose_jaw", 3), ("pose_eye", 6), ("pose_hand", 90)]
        raw = np.concatenate([check_values(k, arrays[k], (t, n), where, MotionFileError) if k in arrays
                              else np.zeros((max(t, 0), n)) for k, n in parts], axis=1)
    else:
        raise MotionFileError(f"{where}: not an AMASS SMPL-X file (no 'poses' nor 'root_orient'/'pose_body' arrays)")
    t = raw.shape[0]
    if not 1 <= t <= MAX_FRAMES:
        raise MotionFileError(f"{where}: {t} frames; smplestx reads 1..{MAX_FRAMES} per file")
    poses = check_values("poses", raw, (t, 165), where, MotionFileError).reshape(t, 55, 3)
    if "trans" not in arrays:
        raise MotionFileError(f"{where}: not an AMASS file (no 'trans' array)")
    trans = check_values("trans", arrays["trans"], (t, 3), where, MotionFileError)
    betas = arrays.get("betas", np.zeros(10))
    if betas.ndim == 2 and betas.shape[0] >= 1:  # a few datasets store one row per frame; AMASS keeps one shape
        betas = betas[0]
    betas = check_values("betas", betas, (betas.shape[0],) if betas.ndim == 1 else (-1,), where, MotionFileError)
    expr = arrays.get("expression", np.zeros((t, 0)))
    expr = check_values("expression", expr, (t, expr.shape[-1] if expr.ndim == 2 else -1), where, MotionFileError)
    fps = None
    for key in ("mocap_frame_rate", "mocap_framerate"):
        if key in arrays:
            rate = check_values(key, arrays[key].reshape(-1), (1,), where, MotionFileError)[0]
            if not 0 < rate <= 10000:
                raise MotionFileError(f"{where}: {key} {rate!r} is not a frame rate")
            fps = float(rate)
            break
    gender = _text(arrays, "gender", "neutral")
    if gender not in ("neutral", "male", "female"):
        raise MotionFileError(f"{where}: gender {gender!r}; expected neutral, male or female")
    motion = WorldMotion(frames=np.arange(t, dtype=np.int64), poses=poses, trans=trans, betas=betas,
                         expression=expr, gender=gender)
    return motion, fps
