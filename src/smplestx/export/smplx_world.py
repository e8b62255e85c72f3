"""SMPL-X parameters in a file's world frame (Meshcapade ``.smpl``: y up; AMASS: z up) <-> tracks in the camera frame.

Files of the field store ``smplx``-layer parameters in their own world frame with the FLAT hand convention (hand
poses are the full finger rotations); tracks store the SMPLest-X convention in the OpenCV camera frame (hand mean
added by the layer). A rigid map ``world -> camera`` (``x_cam = M x_world + b``) is folded into the root alone:

    R_root,cam = M R_root,world,    J_pelvis + transl_cam = M (J_pelvis + trans_world) + b

``J_pelvis`` is the rest pelvis of the body model with the track's shape (and expression), so converting needs the
body model; both directions use the same one, which makes a round trip exact to float precision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..body import BodyModel
from ..errors import SmplestxError
from ..motion.tracks import Track
from ..geometry.rotations import axis_angle_to_rotmat, rotmat_to_axis_angle
from .skeleton import Skeleton

log = logging.getLogger(__name__)

#: Coefficients a track keeps (shape and expression spaces of the results files).
NUM_COEFFS = 10
#: Dropped coefficients larger than this are reported (a file's wider shape space carries real shape there).
DROPPED_TOLERANCE = 1e-6
#: Most frames one body of a foreign file may have (2.4 h at 120 fps): bounds what a crafted frame count makes us
#: allocate, since absent pose parts are filled with zeros per frame.
MAX_FRAMES = 1 << 20
#: A value no pose, translation or coefficient of a real file reaches; larger ones are refused as corrupt.
MAX_ABS_VALUE = 1e4


class MotionFileError(SmplestxError, ValueError):
    """A ``.smpl``, ``.mcs`` or AMASS file smplestx cannot read (one line, names the file and what is supported)."""


@dataclass
class WorldMotion:
    """One body's SMPL-X motion as a file stores it: world frame, flat-hand poses, any number of coefficients."""

    frames: np.ndarray  # (T,) int64 frame indices in the scene
    poses: np.ndarray  # (T, 55, 3) axis-angle: root, 21 body, jaw, 2 eyes, 15 left hand, 15 right hand (flat hand)
    trans: np.ndarray  # (T, 3) the smplx layer's transl in the world frame, metres
    betas: np.ndarray  # (B,) any B
    expression: np.ndarray  # (T, E) any E (E = 0 when the file has none)
    gender: str  # "neutral", "male" or "female"


def fit_coefficients(values: np.ndarray, what: str, where: str, n: int = NUM_COEFFS) -> np.ndarray:
    """The first ``n`` coefficients along the last axis (zero-padded); warns when dropped ones are not zero."""
    values = np.asarray(values, dtype=np.float64)
    k = values.shape[-1]
    if k > n:
        dropped = float(np.abs(values[..., n:]).max())
        if dropped > DROPPED_TOLERANCE:
            log.warning("%s: %s has %d coefficients; smplestx keeps the first %d (the dropped ones reach %.3g, "
                        "so the body differs slightly from the file's)", where, what, k, n, dropped)
        return values[..., :n]
    pad = np.zeros(values.shape[:-1] + (n - k,))
    return np.concatenate([values, pad], axis=-1)


def world_pose(skel: Skeleton, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(poses (T, 55, 3) flat-hand axis-angle, trans (T, 3))`` of ``skel`` in the world frame ``world @ camera``."""
    t = len(skel)
    root = rotmat_to_axis_angle(torch.as_tensor(world @ skel.local_rot[:, 0])).numpy()
    # The skeleton's local rotations already include the hand mean: that is the flat-hand convention.
    local = rotmat_to_axis_angle(torch.as_tensor(skel.local_rot[:, 1:])).numpy()
    pelvis_rest = skel.offsets[:, 0]  # (T, 3) the rest pelvis of each frame (expression moves it, if at all)
    trans = skel.root_pos @ world.T - pelvis_rest
    return np.concatenate([root.reshape(t, 1, 3), local], axis=1), trans


@torch.no_grad()
def _rest_pelvis(body: BodyModel, betas: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """(T, 3) rest pelvis of the body with ``betas`` and each frame's ``expression`` (linear in the coefficients)."""
    f64 = torch.float64
    n_expr = body.num_expression
    b = torch.as_tensor(betas[: body.num_betas], dtype=f64).reshape(1, -1).expand(n_expr + 1, -1)
    e = torch.cat([torch.zeros(1, n_expr, dtype=f64), torch.eye(n_expr, dtype=f64)])
    pelvis = body(betas=b, expression=e).joints_55[:, 0].to(f64).cpu().numpy()  # pose does not move the rest pelvis
    return pelvis[0][None] + expression[:, :n_expr] @ (pelvis[1:] - pelvis[:1])


def track_from_world(motion: WorldMotion, track_id: int, body: BodyModel, to_camera: np.ndarray,
                     offset: np.ndarray, where: str) -> Track:
    """The track of ``motion`` in the camera frame ``x_cam = to_camera @ x_world + offset`` (module docstring)."""
    t = len(motion.frames)
    betas = fit_coefficients(motion.betas, "the shape (betas)", where)
    expression = fit_coefficients(motion.expression, "the expression", where)
    poses = np.asarray(motion.poses, dtype=np.float64)
    eyes = float(np.abs(poses[:, 23:25]).max()) if t else 0.0
    if eyes > DROPPED_TOLERANCE:
        log.warning("%s: the eye rotations are not kept (tracks have no eye joints; up to %.3g rad dropped)",
                    where, eyes)
    root = to_camera @ axis_angle_to_rotmat(torch.as_tensor(poses[:, 0])).numpy()
    pelvis = _rest_pelvis(body, betas, expression)
    transl = (pelvis + np.asarray(motion.trans, dtype=np.float64)) @ to_camera.T + offset - pelvis
    lmean = body.left_hand_mean.to(torch.float64).cpu().numpy().reshape(15, 3)
    rmean = body.right_hand_mean.to(torch.float64).cpu().numpy().reshape(15, 3)
    f32 = np.float32
    return Track(
        track_id=int(track_id),
        frames=np.asarray(motion.frames, dtype=np.int64),
        global_orient=rotmat_to_axis_angle(torch.as_tensor(root)).numpy().astype(f32),
        body_pose=poses[:, 1:22].astype(f32),
        left_hand_pose=(poses[:, 25:40] - lmean).astype(f32),
        right_hand_pose=(poses[:, 40:55] - rmean).astype(f32),
        jaw_pose=poses[:, 22].astype(f32),
        betas=betas.astype(f32),
        expression=expression.astype(f32),
        transl=transl.astype(f32),
    )


def check_values(name: str, a: np.ndarray, shape: tuple[int, ...], where: str, error: type[Exception]) -> np.ndarray:
    """``a`` as float64 of exactly ``shape``, finite, within :data:`MAX_ABS_VALUE`; else ``error`` naming ``where``."""
    if a.dtype.kind not in "fiu":
        raise error(f"{where}: {name} is {a.dtype}, expected numbers")
    if a.shape != shape:
        raise error(f"{where}: {name} has shape {a.shape}, expected {shape}")
    out = a.astype(np.float64)
    if not np.isfinite(out).all() or (np.abs(out) > MAX_ABS_VALUE).any():
        raise error(f"{where}: {name} has non-finite or absurd values")
    return out
