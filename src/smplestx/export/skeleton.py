"""One track as an animated SMPL-X skeleton: rest joints, per-frame local rotations, root motion, rest mesh.

Frames. The body model's own frame (SMPL-X template: y up, the body facing +z) is the rest frame of every
exported skeleton and mesh. Tracks live in the OpenCV camera frame (x right, y down, z forward); every
animation file gets a fixed rotation ``W`` from the camera frame into its world frame (glTF/BVH: a 180 deg
rotation about x, :data:`CAMERA_TO_GLTF`; AMASS: z up). ``W`` is folded into the root joint alone:

    root rotation = W @ R_global_orient,    root position = W @ (J_pelvis + transl)

while every other joint keeps its SMPL-X local rotation and rest offset, so world joint positions are exactly
``W @`` the body model's posed joints (hand poses include the hand mean, as the layer adds it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..body import BodyModel
from ..body.joint_sets import SMPLX_144_NAMES, NUM_KINEMATIC_JOINTS
from ..motion.tracks import Track
from ..geometry.rotations import (
    axis_angle_to_quaternion,
    axis_angle_to_rotmat,
    quaternion_slerp,
    quaternion_to_axis_angle,
)

#: Bone names of the 55-joint skeleton, as the ``smplx`` package names the joints.
JOINT_NAMES: tuple[str, ...] = SMPLX_144_NAMES[:NUM_KINEMATIC_JOINTS]

#: Rest offsets that move less than this over a track (metres) are taken as fixed (no translation keys).
OFFSET_TOLERANCE = 1e-6

_ROT_FIELDS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")


@dataclass
class Skeleton:
    """A track's skeleton and motion in the body model frame (float64 numpy, metres)."""

    track_id: int
    names: tuple[str, ...]
    parents: np.ndarray  # (55,) int, -1 for the root
    rest_joints: np.ndarray  # (55, 3) shaped rest joints, expression 0
    offsets: np.ndarray  # (T, 55, 3) joint minus parent per frame (root: absolute); expression moves a few
    local_rot: np.ndarray  # (T, 55, 3, 3) local rotations, root = R_global_orient (camera frame)
    root_pos: np.ndarray  # (T, 3) pelvis position in the camera frame: J_pelvis(t) + transl
    frames: np.ndarray  # (T,) source frame indices
    expression: np.ndarray  # (T, E)
    betas: np.ndarray  # (10,)
    rest_vertices: np.ndarray  # (V, 3) shaped rest mesh, expression 0
    expression_dirs: np.ndarray  # (E, V, 3) vertex offsets per unit expression coefficient
    faces: np.ndarray  # (F, 3)
    weights: np.ndarray  # (V, 55) skinning weights

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def root_motion(self, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Root rotation (T, 3, 3) and position (T, 3) in the world frame ``world @ camera``."""
        return world @ self.local_rot[:, 0], self.root_pos @ world.T

    def world_joints(self, world: np.ndarray) -> np.ndarray:
        """Posed joint positions (T, 55, 3) in the world frame ``world @ camera``, by forward kinematics."""
        rot0, pos0 = self.root_motion(world)
        n = len(self.names)
        g_rot = np.empty((len(self), n, 3, 3))
        g_pos = np.empty((len(self), n, 3))
        g_rot[:, 0], g_pos[:, 0] = rot0, pos0
        for j in range(1, n):  # parents precede children in SMPL-X order
            p = self.parents[j]
            g_rot[:, j] = g_rot[:, p] @ self.local_rot[:, j]
            g_pos[:, j] = g_pos[:, p] + np.einsum("tij,tj->ti", g_rot[:, p], self.offsets[:, j])
        return g_pos


def densify(track: Track, body: BodyModel | None = None) -> Track:
    """The track on every frame from its first to its last; its own frames are kept bit for bit.

    Missing frames are interpolated between their observed neighbours: rotations by quaternion slerp, expression
    and translation linearly. With ``body``, hand rotations are interpolated as the rotations the body model applies
    (the pose plus the layer's hand mean, which it adds to the axis-angle vector): an axis-angle near 180 deg that
    changes sign between frames stays the pose it is. Only filled frames go through quaternions.
    """
    frames = np.asarray(track.frames, dtype=np.int64)
    full = np.arange(frames[0], frames[-1] + 1, dtype=np.int64)
    if len(full) == len(frames):
        return track
    missing = np.setdiff1d(full, frames)  # strictly inside the track: each has an observed frame on both sides
    hi = np.searchsorted(frames, missing)
    lo = hi - 1
    alpha = (missing - frames[lo]) / (frames[hi] - frames[lo])
    means: dict[str, np.ndarray] = {}
    if body is not None:
        means = {"left_hand_pose": body.left_hand_mean.to(torch.float64).cpu().numpy().reshape(15, 3),
                 "right_hand_pose": body.right_hand_mean.to(torch.float64).cpu().numpy().reshape(15, 3)}
    out: dict[str, np.ndarray] = {}
    a = torch.as_tensor(alpha, dtype=torch.float64)
    for name in (*_ROT_FIELDS, "expression", "transl"):
        x = np.asarray(getattr(track, name), dtype=np.float32)
        dense = np.empty((len(full), *x.shape[1:]), dtype=np.float32)
        dense[frames - frames[0]] = x
        x64 = x.astype(np.float64) + means.get(name, 0.0)
        if name in _ROT_FIELDS:
            q = axis_angle_to_quaternion(torch.as_tensor(x64))
            qi = quaternion_slerp(q[lo], q[hi], a.view((-1,) + (1,) * (q.dim() - 2)))
            filled = quaternion_to_axis_angle(qi).numpy()
        else:
            w = alpha.reshape((-1,) + (1,) * (x.ndim - 1))
            filled = (1 - w) * x64[lo] + w * x64[hi]
        dense[missing - frames[0]] = filled - means.get(name, 0.0)
        out[name] = dense
    return Track(track_id=track.track_id, frames=full, betas=track.betas, **out)


@torch.no_grad()
def build_skeleton(track: Track, body: BodyModel) -> Skeleton:
    """Rest skeleton, rest mesh and per-frame local rotations of ``track`` from the body model."""
    f64 = torch.float64
    n_expr = body.num_expression
    betas = torch.as_tensor(np.asarray(track.betas, dtype=np.float64)).reshape(1, -1)
    betas = betas.expand(n_expr + 1, -1)
    # Rest bodies (zero pose): expression 0, then each unit expression; rest joints and vertices are linear in
    # the expression coefficients, so these n_expr + 1 bodies give them exactly for any frame.
    expr = torch.cat([torch.zeros(1, n_expr, dtype=f64), torch.eye(n_expr, dtype=f64)])
    zero_pose = {
        "global_orient": torch.zeros(n_expr + 1, 3, dtype=f64),
        "body_pose": torch.zeros(n_expr + 1, 21, 3, dtype=f64),
        # Cancel the hand mean: the rest pose is the flat-hand T-pose the skinning weights were made for.
        "left_hand_pose": -body.left_hand_mean.to(f64).reshape(1, 15, 3).expand(n_expr + 1, -1, -1),
        "right_hand_pose": -body.right_hand_mean.to(f64).reshape(1, 15, 3).expand(n_expr + 1, -1, -1),
    }
    rest = body(betas=betas, expression=expr, **zero_pose)
    joints = rest.joints_55.to(f64).numpy()
    verts = rest.vertices.to(f64).numpy()
    rest_joints, joint_dirs = joints[0], joints[1:] - joints[:1]  # (55, 3), (E, 55, 3)
    rest_vertices, expression_dirs = verts[0], verts[1:] - verts[:1]

    e = np.asarray(track.expression, dtype=np.float64)[:, :n_expr]
    joints_t = rest_joints[None] + np.einsum("te,ejc->tjc", e, joint_dirs)  # (T, 55, 3)
    parents = body.parents.cpu().numpy().astype(np.int64)
    offsets = joints_t.copy()
    offsets[:, 1:] -= joints_t[:, parents[1:]]

    t = len(track)
    pose = {name: np.asarray(getattr(track, name), dtype=np.float64) for name in _ROT_FIELDS}
    lmean = body.left_hand_mean.to(f64).numpy().reshape(15, 3)
    rmean = body.right_hand_mean.to(f64).numpy().reshape(15, 3)
    # Kinematic order: root, 21 body, jaw, two eyes (not estimated: identity), 15 left hand, 15 right hand.
    aa = np.concatenate(
        [
            pose["global_orient"].reshape(t, 1, 3),
            pose["body_pose"].reshape(t, 21, 3),
            pose["jaw_pose"].reshape(t, 1, 3),
            np.zeros((t, 2, 3)),
            pose["left_hand_pose"].reshape(t, 15, 3) + lmean,
            pose["right_hand_pose"].reshape(t, 15, 3) + rmean,
        ],
        axis=1,
    )
    local_rot = axis_angle_to_rotmat(torch.as_tensor(aa)).numpy()
    root_pos = joints_t[:, 0] + np.asarray(track.transl, dtype=np.float64)
    return Skeleton(
        track_id=int(track.track_id),
        names=JOINT_NAMES,
        parents=parents,
        rest_joints=rest_joints,
        offsets=offsets,
        local_rot=local_rot,
        root_pos=root_pos,
        frames=np.asarray(track.frames, dtype=np.int64),
        expression=e,
        betas=np.asarray(track.betas, dtype=np.float64),
        rest_vertices=rest_vertices,
        expression_dirs=expression_dirs,
        faces=body.faces_np.astype(np.int64),
        weights=body.lbs_weights.to(f64).cpu().numpy(),
    )
