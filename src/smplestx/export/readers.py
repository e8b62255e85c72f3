"""Motion files of other tools as input: Meshcapade ``.smpl`` / ``.mcs`` and AMASS SMPL-X ``.npz``, as a TrackSet.

:func:`read_motion_file` is what ``smplestx export`` (through :func:`~smplestx.export.inputs.load_animation_input`)
and the viewer call. Every body becomes one track in the camera frame of the tracks (x right, y down, z forward):
for a ``.smpl`` or AMASS file a nominal camera at the origin of the file's world looking along its forward axis
(see :mod:`.meshcapade` and :mod:`.amass`), for an ``.mcs`` the scene's camera. Exporting such a track set
reproduces the file's world: a ``.smpl`` read and written again equals the original within float32 precision.

Shape and expression spaces wider than the tracks' 10 coefficients (Meshcapade's 16 betas, AMASS's 16, 300 in
SMPL-X 2020) keep the first 10, with a warning when the dropped ones are not zero; eye rotations are dropped.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..body import BodyModel
from ..errors import UsageError
from ..io.meshes import CAMERA_TO_GLTF
from ..motion.sequences import DEFAULT_FPS
from ..motion.tracks import TrackSet, validate_trackset
from .amass import CAMERA_TO_AMASS, read_amass_motion
from .meshcapade import nominal_camera, read_mcs_scene, read_smpl_motion
from .smplx_world import MotionFileError, WorldMotion, track_from_world

log = logging.getLogger(__name__)

def is_amass_file(path: Path) -> bool:
    """True when ``path`` is an .npz holding AMASS's pose and translation arrays."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return "trans.npy" in names and ("poses.npy" in names or "root_orient.npy" in names)


def is_motion_file(path: str | os.PathLike[str]) -> bool:
    """True for the inputs :func:`read_motion_file` reads: ``.smpl``, ``.mcs`` and AMASS ``.npz``."""
    path = Path(path)
    suffix = path.suffix.lower()
    return suffix in (".smpl", ".mcs") or (suffix == ".npz" and is_amass_file(path))


def read_motion_file(path: str | os.PathLike[str], body_models: str | os.PathLike[str] | None, *,
                     fps: float | None = None, body: BodyModel | None = None,
                     device: str | torch.device = "cpu") -> TrackSet:
    """Read a ``.smpl``, ``.mcs`` or AMASS SMPL-X ``.npz`` as a TrackSet (one track per body, ids 0..n-1).

    ``body_models``: the folder with ``smplx/SMPLX_<GENDER>.npz``; the conversion into the camera frame needs the
    rest pelvis of each body's shape (``body``, an already loaded model, is used instead when given; it should
    be of the file's gender). ``fps`` overrides the file's rate (files without one get 30).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such input file: {path}")
    suffix = path.suffix.lower()
    focal, princpt, size = nominal_camera()
    if suffix == ".smpl":
        motion, rate = read_smpl_motion(path)
        motions = [motion]
        to_camera, offset = CAMERA_TO_GLTF.T.astype(np.float64), np.zeros(3)
    elif suffix == ".mcs":
        motions, rate, (to_camera, offset, (focal, princpt, size)) = read_mcs_scene(path)
    elif suffix == ".npz" and is_amass_file(path):
        motion, rate = read_amass_motion(path)
        motions = [motion]
        to_camera, offset = CAMERA_TO_AMASS.T, np.zeros(3)
    else:
        raise UsageError(f"{path}: not a motion file smplestx reads (.smpl, .mcs or an AMASS SMPL-X .npz)")
    gender = motions[0].gender
    if any(m.gender != gender for m in motions):
        log.warning("%s: the bodies have different genders; all are read and exported with the %s body model",
                    path, gender)
    if body is None:
        if body_models is None:
            raise UsageError(f"{path}: reading it needs the SMPL-X body models folder (body_models / --body-models)")
        body = BodyModel.from_dir(body_models, gender, dtype=torch.float64, device=device)
    tracks = [track_from_world(m, i, body, to_camera, offset, f"{path}" if len(motions) == 1 else f"{path} body {i}")
              for i, m in enumerate(motions)]
    ts = TrackSet(tracks=tracks, fps=float(fps if fps is not None else (rate or DEFAULT_FPS)), smoothing="none",
                  focal=focal, princpt=princpt, image_size=size, source=str(path), gender=gender)
    validate_trackset(ts, str(path))
    return ts


__all__ = ["MotionFileError", "WorldMotion", "is_motion_file", "read_motion_file"]
