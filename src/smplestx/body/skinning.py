"""The one skinning core of SMPL-X and SMPL: pure functions over tensors (shape -> joints -> kinematics -> skin).

Like smplx's ``lbs()``: every body layer calls :func:`skin_bodies`; the layers only prepare their inputs
(pose parts, hand means, coefficients) and add what is their own (SMPL-X landmarks, extra joints).
"""

from __future__ import annotations

import contextlib
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from .model_files import BodyModelFileError


class KinematicTree(NamedTuple):
    """Joint tree ordered by depth: ``parents`` (J,), ``order`` (J,), parent position of each non-root joint
    of ``order`` within the previous level (J-1,), ``inverse`` of ``order`` (J,) and the level starts."""

    parents: Tensor
    order: Tensor
    parent_pos: Tensor
    inverse: Tensor
    level_starts: list[int]


class Skinned(NamedTuple):
    """Output of :func:`skin_bodies` before translation: vertices (B, V, 3), joint rotations and positions."""

    vertices: Tensor
    joint_rots: Tensor
    joints: Tensor


def kinematic_levels(parents: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Order the joints by depth in the tree: (order, parent position within the previous level, level starts).

    Forward kinematics then processes one depth level per step instead of one joint per step.
    """
    n = len(parents)
    depth = np.full(n, -1, dtype=np.int64)
    depth[0] = 0
    for _ in range(n):
        for j in range(1, n):
            if depth[j] < 0 and depth[parents[j]] >= 0:
                depth[j] = depth[parents[j]] + 1
    if (depth < 0).any() or parents[0] >= 0:
        raise BodyModelFileError("kintree_table does not describe a tree rooted at joint 0")
    order = np.argsort(depth, kind="stable")
    starts = [int(np.searchsorted(depth[order], d)) for d in range(int(depth.max()) + 2)]
    pos_in_level = np.empty(n, dtype=np.int64)
    for d in range(len(starts) - 1):
        pos_in_level[order[starts[d]:starts[d + 1]]] = np.arange(starts[d + 1] - starts[d])
    parent_pos = pos_in_level[parents[order[1:]]]
    return order, parent_pos, starts


def no_autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Context that disables autocast so the body math stays in the module dtype."""
    is_available = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4
    if is_available(device.type) if is_available else device.type in ("cpu", "cuda"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def shape_basis(j_reg: Tensor, template: Tensor, dirs: Tensor) -> tuple[Tensor, Tensor]:
    """Basis (N, 3V + 3J) and offset (3V + 3J) giving rest vertices and rest joints from N coefficients in one GEMM.

    Joints are linear in the shape: J = J_reg @ (T + S b) = J_reg @ T + (J_reg @ S) b, so the regression over all
    vertices is done once here; vertices come coordinate-major, joints joint-major.
    """
    n = dirs.shape[-1]
    j_dirs = torch.einsum("jv,vcn->njc", j_reg, dirs)
    basis = torch.cat((dirs.permute(2, 1, 0).reshape(n, -1), j_dirs.reshape(n, -1)), dim=1)
    offset = torch.cat((template.t().reshape(-1), (j_reg @ template).reshape(-1)))
    return basis, offset


def forward_kinematics(rots: Tensor, rest_joints: Tensor, tree: KinematicTree) -> tuple[Tensor, Tensor]:
    """Global rotations (B, J, 3, 3) and positions (B, J, 3), one tree-depth level per step."""
    # Bone vectors (joint minus parent); the root keeps its absolute rest position.
    parent_pos = rest_joints.index_select(1, tree.parents[1:])
    rel_pos = torch.cat((rest_joints[:, :1], rest_joints[:, 1:] - parent_pos), dim=1)
    rots_o = rots.index_select(1, tree.order)
    rel_o = rel_pos.index_select(1, tree.order).unsqueeze(-1)
    starts = tree.level_starts
    g_rot = [rots_o[:, :1]]
    g_pos = [rel_o[:, :1].squeeze(-1)]
    for d in range(1, len(starts) - 1):
        lo, hi = starts[d], starts[d + 1]
        ppos = tree.parent_pos[lo - 1:hi - 1]
        prot = g_rot[-1].index_select(1, ppos)
        ppos_t = g_pos[-1].index_select(1, ppos)
        g_rot.append(prot @ rots_o[:, lo:hi])
        g_pos.append((prot @ rel_o[:, lo:hi]).squeeze(-1) + ppos_t)
    return torch.cat(g_rot, dim=1).index_select(1, tree.inverse), torch.cat(g_pos, dim=1).index_select(1, tree.inverse)


def blend_skin(v_shaped: Tensor, pose_feature: Tensor, rel: Tensor, posedirs: Tensor, weights: Tensor) -> Tensor:
    """Pose blend shapes + linear blend skinning of rest vertices (B, 3V) by transforms (B, J, 3, 4): (B, V, 3)."""
    batch, nv = rel.shape[0], weights.shape[0]
    v_posed = torch.addmm(v_shaped, pose_feature, posedirs.view(pose_feature.shape[1], -1))
    v_posed = v_posed.view(batch, 3, nv)
    # Blend the 3x4 transforms per vertex with one GEMM, laid out (column k, row i, body, vertex) so the
    # per-vertex product below is three broadcast multiply-adds over contiguous rows.
    cols = rel.permute(3, 2, 0, 1).reshape(12 * batch, weights.shape[1])
    blended = (cols @ weights.t()).view(4, 3, batch, nv)
    out = torch.addcmul(blended[3], blended[0], v_posed[:, 0])
    out = torch.addcmul(out, blended[1], v_posed[:, 1])
    out = torch.addcmul(out, blended[2], v_posed[:, 2])
    return out.permute(1, 2, 0).contiguous()


def skin_bodies(
    rot_minus_eye: Tensor,
    coeffs: Tensor,
    shape_offset: Tensor,
    shape_basis_: Tensor,
    posedirs: Tensor,
    weights: Tensor,
    tree: KinematicTree,
    chunk_size: int | None = None,
) -> Skinned:
    """Pose bodies from joint rotations minus identity (B, J, 3, 3) and shape coefficients (B, N).

    ``chunk_size`` splits the vertex stage into blocks of bodies (same math for every block).
    """
    batch, num_joints = rot_minus_eye.shape[:2]
    eye = torch.eye(3, dtype=rot_minus_eye.dtype, device=rot_minus_eye.device)
    rots = rot_minus_eye + eye
    nv3 = 3 * weights.shape[0]
    # Rest vertices (B, 3V, coordinate-major) and rest joints from one GEMM.
    shaped = torch.addmm(shape_offset, coeffs, shape_basis_)
    v_shaped = shaped[:, :nv3]
    rest_joints = shaped[:, nv3:].reshape(batch, num_joints, 3)
    pose_feature = rot_minus_eye[:, 1:].reshape(batch, -1)
    glob_rot, glob_pos = forward_kinematics(rots, rest_joints, tree)
    # Skinning transforms relative to the rest pose: x -> R_j x + (p_j - R_j J_j).
    offset = glob_pos - (glob_rot @ rest_joints.unsqueeze(-1)).squeeze(-1)
    rel = torch.cat((glob_rot, offset.unsqueeze(-1)), dim=-1)  # (B, J, 3, 4)
    step = chunk_size or batch
    if batch <= step:
        vertices = blend_skin(v_shaped, pose_feature, rel, posedirs, weights)
    else:
        # On CPU, blocks of a few dozen bodies keep the (12, B, V) blended transforms in cache (measured
        # ~30 % faster at batch 1024).
        vertices = torch.cat(
            [
                blend_skin(v_shaped[i:i + step], pose_feature[i:i + step], rel[i:i + step], posedirs, weights)
                for i in range(0, batch, step)
            ]
        )
    return Skinned(vertices=vertices, joint_rots=glob_rot, joints=glob_pos)


def translate(transl: Tensor | None, vertices: Tensor, joints: Tensor) -> tuple[Tensor, Tensor]:
    """Add a per-body translation (B, 3) to vertices and joints (unchanged when None)."""
    if transl is None:
        return vertices, joints
    t = transl.reshape(-1, 1, 3)
    return vertices + t, joints + t
