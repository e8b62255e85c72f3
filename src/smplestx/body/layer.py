"""SMPL-X body model as a batched, differentiable torch module (linear blend skinning + face landmarks)."""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from .joint_sets import JointSet
from .model_files import (
    NUM_SMPLX_JOINTS,
    BodyModelFileError,
    check_smplx_arrays,
    load_smplx_arrays,
    resolve_model_dir,
    split_shapedirs,
)

log = logging.getLogger(__name__)

#: Vertex ids of the 21 joints SMPL-X reads directly off the mesh, in output order (smplx 0.1.28 convention):
#: face points, feet, then finger tips (left thumb..pinky, right thumb..pinky).
SMPLX_VERTEX_JOINT_IDS: dict[str, int] = {
    "nose": 9120,
    "reye": 9929,
    "leye": 9448,
    "rear": 616,
    "lear": 6,
    "LBigToe": 5770,
    "LSmallToe": 5780,
    "LHeel": 8846,
    "RBigToe": 8463,
    "RSmallToe": 8474,
    "RHeel": 8635,
    "lthumb": 5361,
    "lindex": 4933,
    "lmiddle": 5058,
    "lring": 5169,
    "lpinky": 5286,
    "rthumb": 8079,
    "rindex": 7669,
    "rmiddle": 7794,
    "rring": 7905,
    "rpinky": 8022,
}

NUM_BODY_JOINTS = 21
NUM_HAND_JOINTS = 15
NECK_JOINT = 12
#: Neck-yaw look-up: bins 0..39 for yaw 0..39 degrees, 40..78 mirror the negative side, 78 beyond -39.
_MAX_YAW_BIN = 39

# (name, number of joints) of the pose inputs in the order of the 55 kinematic joints.
_POSE_PARTS = (
    ("global_orient", 1),
    ("body_pose", NUM_BODY_JOINTS),
    ("jaw_pose", 1),
    ("leye_pose", 1),
    ("reye_pose", 1),
    ("left_hand_pose", NUM_HAND_JOINTS),
    ("right_hand_pose", NUM_HAND_JOINTS),
)


@dataclass
class BodyOutput:
    """Result of :class:`BodyModel`: posed vertices (B, V, 3) and joints (B, 144, 3), translation included."""

    vertices: Tensor
    joints: Tensor

    @property
    def joints_55(self) -> Tensor:
        """The 55 kinematic joints (B, 55, 3)."""
        return self.joints[:, :NUM_SMPLX_JOINTS]

    def select(self, joint_set: JointSet) -> Tensor:
        """Joints of a set that is a selection of the 144 outputs (e.g. ``SMPLX_137``), (B, N, 3)."""
        if not joint_set.index_in_144:
            raise ValueError("this joint set is not a selection of the layer's output joints")
        index = torch.as_tensor(joint_set.index_in_144, device=self.joints.device)
        return self.joints.index_select(1, index)


def axis_angle_to_matrix_minus_identity(aa: Tensor) -> Tensor:
    """Return R - I for axis-angle vectors (..., 3); exact and differentiable at angle 0.

    Uses R - I = a [v]x + b (v v^T - |v|^2 I) with a = sin t / t, b = (1 - cos t) / t^2 = (sin(t/2) / (t/2))^2 / 2,
    which has no cancellation; near t = 0 both factors use their Taylor series.
    """
    x, y, z = aa.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    theta2 = xx + yy + zz
    small = theta2 < 1e-8
    # Keep the unused branch finite so that gradients through torch.where stay finite.
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    half = 0.5 * theta
    sinc_half = torch.sin(half) / half
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, 0.5 * sinc_half * sinc_half)
    ax, ay, az = a * x, a * y, a * z
    bxy, bxz, byz = b * x * y, b * x * z, b * y * z
    m = torch.stack(
        (
            -b * (yy + zz), bxy - az, bxz + ay,
            bxy + az, -b * (xx + zz), byz - ax,
            bxz - ay, byz + ax, -b * (xx + yy),
        ),
        dim=-1,
    )
    return m.view(aa.shape[:-1] + (3, 3))


def axis_angle_to_matrix(aa: Tensor) -> Tensor:
    """Rodrigues' formula: axis-angle (..., 3) to rotation matrices (..., 3, 3)."""
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    return axis_angle_to_matrix_minus_identity(aa) + eye


def _kinematic_levels(parents: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Order the joints by depth in the tree.

    Returns (order, parent position within the previous level for each non-root joint in ``order``, level starts),
    so forward kinematics can process one depth level per step instead of one joint per step.
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


def _no_autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Context that disables autocast so the body math stays in the module dtype."""
    is_available = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4
    if is_available(device.type) if is_available else device.type in ("cpu", "cuda"):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def _refresh_after_load(module: "BodyModel", _incompatible_keys: object) -> None:
    """load_state_dict post-hook (a module-level function so that the model stays picklable)."""
    module._refresh_derived()


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


class BodyLayerMixin:
    """Input checks, forward kinematics and linear blend skinning shared by the SMPL-X and SMPL layers.

    Needs the buffers ``posedirs`` (P, 3, V), ``lbs_weights`` (V, J), ``parents`` and the tree-level order from
    :func:`_kinematic_levels` (``_fk_order``, ``_fk_parent_pos``, ``_fk_inverse``, ``_level_starts``), and
    ``num_vertices``.
    """

    num_vertices: int
    v_template: Tensor
    _faces_np: np.ndarray
    posedirs: Tensor
    lbs_weights: Tensor
    parents: Tensor
    _fk_order: Tensor
    _fk_parent_pos: Tensor
    _fk_inverse: Tensor
    _level_starts: list[int]

    @property
    def faces_np(self) -> np.ndarray:
        """Triangles (F, 3) as an int64 numpy array."""
        return self._faces_np

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the model buffers."""
        return self.v_template.dtype

    @property
    def device(self) -> torch.device:
        """Device of the model buffers."""
        return self.v_template.device

    def _batch(self, given: dict[str, Tensor]) -> int:
        sizes = {name: (t.shape[0] if t.dim() > 1 else 1) for name, t in given.items()}
        batch = max(sizes.values(), default=1)
        bad = {n: s for n, s in sizes.items() if s not in (1, batch)}
        if bad:
            raise ValueError(f"inconsistent batch sizes: {sizes}")
        return batch

    def _coeffs(self, x: Tensor | None, name: str, width: int, batch: int) -> Tensor:
        """Shape / expression coefficients as (B, width); fewer columns are zero-padded."""
        if x is None:
            return self.v_template.new_zeros(batch, width)
        x = x.reshape(x.shape[0] if x.dim() > 1 else 1, -1)
        if x.shape[1] > width:
            raise ValueError(f"{name} has {x.shape[1]} coefficients; this model was built with {width}")
        if x.shape[1] < width:
            x = torch.nn.functional.pad(x, (0, width - x.shape[1]))
        return x.expand(batch, -1)

    def _pose_part(self, x: Tensor | None, name: str, joints: int, batch: int, pose2rot: bool) -> Tensor | None:
        """One pose input as (B, joints, 3) axis-angle or (B, joints, 3, 3) matrices; None stays None."""
        if x is None:
            return None
        b = x.shape[0] if x.dim() > 1 else 1
        per_joint = 3 if pose2rot else 9
        if x.numel() != b * joints * per_joint:
            kind = "axis-angle" if pose2rot else "rotation matrices (pose2rot=False)"
            expected = f"({b}, {joints * 3}) or ({b}, {joints}, 3)" if pose2rot else f"({b}, {joints}, 3, 3)"
            raise ValueError(f"{name} has shape {tuple(x.shape)}; expected {kind} of shape {expected}")
        shape = (b, joints, 3) if pose2rot else (b, joints, 3, 3)
        return x.reshape(shape).expand((batch,) + shape[1:])

    def _skin(self, v_shaped: Tensor, pose_feature: Tensor, rel: Tensor) -> Tensor:
        """Pose blend shapes + linear blend skinning for one block of bodies: returns vertices (B, V, 3)."""
        batch, nv = rel.shape[0], self.num_vertices
        v_posed = torch.addmm(v_shaped, pose_feature, self.posedirs.view(pose_feature.shape[1], -1))
        v_posed = v_posed.view(batch, 3, nv)
        # Blend the 3x4 transforms per vertex with one GEMM, laid out (column k, row i, body, vertex) so the
        # per-vertex product below is three broadcast multiply-adds over contiguous rows.
        cols = rel.permute(3, 2, 0, 1).reshape(12 * batch, self.lbs_weights.shape[1])
        blended = (cols @ self.lbs_weights.t()).view(4, 3, batch, nv)
        out = torch.addcmul(blended[3], blended[0], v_posed[:, 0])
        out = torch.addcmul(out, blended[1], v_posed[:, 1])
        out = torch.addcmul(out, blended[2], v_posed[:, 2])
        return out.permute(1, 2, 0).contiguous()

    def _forward_kinematics(self, rots: Tensor, rest_joints: Tensor) -> tuple[Tensor, Tensor]:
        """Global rotations (B, J, 3, 3) and positions (B, J, 3), one tree-depth level per step."""
        # Bone vectors (joint minus parent); the root keeps its absolute rest position.
        parent_pos = rest_joints.index_select(1, self.parents[1:])
        rel_pos = torch.cat((rest_joints[:, :1], rest_joints[:, 1:] - parent_pos), dim=1)
        order = self._fk_order
        rots_o = rots.index_select(1, order)
        rel_o = rel_pos.index_select(1, order).unsqueeze(-1)
        starts = self._level_starts
        g_rot = [rots_o[:, :1]]
        g_pos = [rel_o[:, :1].squeeze(-1)]
        for d in range(1, len(starts) - 1):
            lo, hi = starts[d], starts[d + 1]
            ppos = self._fk_parent_pos[lo - 1:hi - 1]
            prot = g_rot[-1].index_select(1, ppos)
            ppos_t = g_pos[-1].index_select(1, ppos)
            g_rot.append(prot @ rots_o[:, lo:hi])
            g_pos.append((prot @ rel_o[:, lo:hi]).squeeze(-1) + ppos_t)
        inv = self._fk_inverse
        return torch.cat(g_rot, dim=1).index_select(1, inv), torch.cat(g_pos, dim=1).index_select(1, inv)



class BodyModel(BodyLayerMixin, nn.Module):
    """SMPL-X layer: pose (axis-angle or rotation matrices), shape and expression to mesh and 144 joints."""

    #: Bodies per block for the vertex stage on CPU (None: no blocking).
    chunk_size: int | None = 64

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        num_betas: int = 10,
        num_expression: int = 10,
        flat_hand_mean: bool = False,
        face_contour: bool = True,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        gender: str = "neutral",
    ) -> None:
        super().__init__()
        check_smplx_arrays(arrays)
        self.gender = gender
        self.flat_hand_mean = flat_hand_mean
        self.face_contour = face_contour

        v_template = np.asarray(arrays["v_template"], dtype=np.float64)
        num_verts = v_template.shape[0]
        shape_dirs, expr_dirs, num_betas, num_expression = split_shapedirs(
            np.asarray(arrays["shapedirs"], dtype=np.float64), num_betas, num_expression
        )
        self.num_betas = num_betas
        self.num_expression = num_expression
        posedirs = np.asarray(arrays["posedirs"], dtype=np.float64)
        parents = np.asarray(arrays["kintree_table"], dtype=np.int64)[0].copy()
        parents[0] = -1
        faces = np.asarray(arrays["f"], dtype=np.int64)

        vertex_ids = np.array(list(SMPLX_VERTEX_JOINT_IDS.values()), dtype=np.int64)
        if vertex_ids.max() >= num_verts:
            raise BodyModelFileError(f"the model has {num_verts} vertices; SMPL-X needs 10475")
        self.vertex_ids: dict[str, int] = dict(SMPLX_VERTEX_JOINT_IDS)
        self.num_vertices = num_verts
        self.num_faces = faces.shape[0]

        def buf(name: str, value: np.ndarray, *, integer: bool = False, persistent: bool = True) -> None:
            t = torch.as_tensor(np.ascontiguousarray(value), dtype=torch.long if integer else dtype, device=device)
            self.register_buffer(name, t, persistent=persistent)

        buf("v_template", v_template)
        buf("shapedirs", shape_dirs)
        buf("exprdirs", expr_dirs)
        # Pose blend shapes as (486, 3, V): pose features (joint-major, row-major entries of R - I) to vertex
        # offsets, coordinate-major (x of all vertices, then y, then z) so that skinning works on contiguous rows.
        buf("posedirs", posedirs.transpose(2, 1, 0))
        buf("J_regressor", np.asarray(arrays["J_regressor"], dtype=np.float64))
        buf("lbs_weights", np.asarray(arrays["weights"], dtype=np.float64))
        buf("parents", parents, integer=True)
        buf("faces", faces, integer=True)
        zeros = np.zeros(NUM_HAND_JOINTS * 3)
        buf("left_hand_mean", zeros if flat_hand_mean else np.asarray(arrays["hands_meanl"], dtype=np.float64))
        buf("right_hand_mean", zeros if flat_hand_mean else np.asarray(arrays["hands_meanr"], dtype=np.float64))
        buf("extra_joint_vertex_ids", vertex_ids, integer=True)
        buf("lmk_faces_idx", arrays["lmk_faces_idx"], integer=True)
        buf("lmk_bary_coords", np.asarray(arrays["lmk_bary_coords"], dtype=np.float64))
        if face_contour:
            if "dynamic_lmk_faces_idx" not in arrays or "dynamic_lmk_bary_coords" not in arrays:
                raise BodyModelFileError(
                    "the model file has no dynamic_lmk_faces_idx / dynamic_lmk_bary_coords; use face_contour=False"
                )
            buf("dynamic_lmk_faces_idx", arrays["dynamic_lmk_faces_idx"], integer=True)
            buf("dynamic_lmk_bary_coords", np.asarray(arrays["dynamic_lmk_bary_coords"], dtype=np.float64))
        self._faces_np = faces.astype(np.int64)

        order, parent_pos, starts = _kinematic_levels(parents)
        self._level_starts = starts
        buf("_fk_order", order, integer=True, persistent=False)
        buf("_fk_parent_pos", parent_pos, integer=True, persistent=False)
        buf("_fk_inverse", np.argsort(order), integer=True, persistent=False)
        self._num_static = int(np.asarray(arrays["lmk_faces_idx"]).shape[0])
        self._num_dynamic = int(np.asarray(arrays["dynamic_lmk_faces_idx"]).shape[1]) if face_contour else 0
        self.num_kinematic_joints = NUM_SMPLX_JOINTS
        self.num_joints = NUM_SMPLX_JOINTS + len(vertex_ids) + self._num_static + self._num_dynamic
        self._register_derived()
        self.register_load_state_dict_post_hook(_refresh_after_load)

    # ---------------------------------------------------------------------------------------------- construction

    @classmethod
    def from_dir(
        cls,
        path: str | Path,
        gender: str = "neutral",
        *,
        num_betas: int = 10,
        num_expression: int = 10,
        flat_hand_mean: bool = False,
        face_contour: bool = True,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> "BodyModel":
        """Build the layer from ``SMPLX_{GENDER}.npz`` in ``path/smplx`` or ``path``."""
        folder = resolve_model_dir(path)
        arrays = load_smplx_arrays(folder, gender)
        log.info("SMPL-X %s model from %s", gender.lower(), folder)
        return cls(
            arrays,
            num_betas=num_betas,
            num_expression=num_expression,
            flat_hand_mean=flat_hand_mean,
            face_contour=face_contour,
            dtype=dtype,
            device=device,
            gender=gender.lower(),
        )

    def _derived_values(self) -> Iterator[tuple[str, Tensor, bool]]:
        """Tensors computed from the stored buffers (float64 math), as (name, value, is_integer)."""
        f64 = torch.float64
        dirs = torch.cat((self.shapedirs, self.exprdirs), dim=-1).to(f64)  # (V, 3, nb + ne)
        basis, offset = shape_basis(self.J_regressor.to(f64), self.v_template.to(f64), dirs)
        yield "_shape_basis", basis, False
        yield "_shape_offset", offset, False
        yield "_lmk_vertex_ids", self.faces[self.lmk_faces_idx], True
        if self.face_contour:
            yield "_dyn_lmk_vertex_ids", self.faces[self.dynamic_lmk_faces_idx], True

    def _register_derived(self) -> None:
        dtype = self.v_template.dtype
        for name, value, integer in self._derived_values():
            self.register_buffer(name, value if integer else value.to(dtype), persistent=False)

    @torch.no_grad()
    def _refresh_derived(self) -> None:
        """Recompute the derived buffers after the stored ones changed (e.g. load_state_dict)."""
        for name, value, _ in self._derived_values():
            getattr(self, name).copy_(value)

    # -------------------------------------------------------------------------------------------------- helpers

    def extra_repr(self) -> str:
        return (
            f"gender={self.gender}, num_betas={self.num_betas}, num_expression={self.num_expression}, "
            f"flat_hand_mean={self.flat_hand_mean}, face_contour={self.face_contour}, "
            f"vertices={self.num_vertices}, joints={self.num_joints}"
        )

    # -------------------------------------------------------------------------------------------------- forward

    def forward(
        self,
        *,
        global_orient: Tensor | None = None,
        body_pose: Tensor | None = None,
        left_hand_pose: Tensor | None = None,
        right_hand_pose: Tensor | None = None,
        jaw_pose: Tensor | None = None,
        leye_pose: Tensor | None = None,
        reye_pose: Tensor | None = None,
        betas: Tensor | None = None,
        expression: Tensor | None = None,
        transl: Tensor | None = None,
        pose2rot: bool = True,
    ) -> BodyOutput:
        """Pose the body; missing inputs are zero (identity rotations, mean hands unless flat_hand_mean).

        With ``pose2rot=False`` the poses are rotation matrices used as they are (the hand mean is not applied,
        as in smplx's SMPLXLayer).
        """
        given = {
            name: value
            for name, value in (
                ("global_orient", global_orient), ("body_pose", body_pose), ("left_hand_pose", left_hand_pose),
                ("right_hand_pose", right_hand_pose), ("jaw_pose", jaw_pose), ("leye_pose", leye_pose),
                ("reye_pose", reye_pose), ("betas", betas), ("expression", expression), ("transl", transl),
            )
            if value is not None
        }
        dtype, device = self.v_template.dtype, self.v_template.device
        # Inputs follow the module: cast once here, the body math below never leaves the buffer dtype.
        given = {k: torch.as_tensor(v).to(device=device, dtype=dtype) for k, v in given.items()}
        batch = self._batch(given)
        with _no_autocast(device):
            return self._forward(given, batch, pose2rot)

    def _forward(self, given: dict[str, Tensor], batch: int, pose2rot: bool) -> BodyOutput:
        dtype, device = self.v_template.dtype, self.v_template.device
        eye = torch.eye(3, dtype=dtype, device=device)
        parts = {n: self._pose_part(given.get(n), n, j, batch, pose2rot) for n, j in _POSE_PARTS}

        if pose2rot:
            means = {"left_hand_pose": self.left_hand_mean, "right_hand_pose": self.right_hand_mean}
            full = []
            for name, joints in _POSE_PARTS:
                p = parts[name]
                if p is None:
                    p = self.v_template.new_zeros(batch, joints, 3)
                if name in means:
                    p = p + means[name].view(1, joints, 3)
                full.append(p)
            rot_minus_eye = axis_angle_to_matrix_minus_identity(torch.cat(full, dim=1))
            rots = rot_minus_eye + eye
        else:
            full = []
            for name, joints in _POSE_PARTS:
                p = parts[name]
                full.append(eye.expand(batch, joints, 3, 3) if p is None else p)
            rots = torch.cat(full, dim=1)
            rot_minus_eye = rots - eye

        betas = self._coeffs(given.get("betas"), "betas", self.num_betas, batch)
        expr = self._coeffs(given.get("expression"), "expression", self.num_expression, batch)
        nv3 = 3 * self.num_vertices

        # Rest vertices (B, 3V, coordinate-major) and rest joints from one GEMM over shape + expression.
        shaped = torch.addmm(self._shape_offset, torch.cat((betas, expr), dim=1), self._shape_basis)
        v_shaped = shaped[:, :nv3]
        rest_joints = shaped[:, nv3:].reshape(batch, NUM_SMPLX_JOINTS, 3)
        pose_feature = rot_minus_eye[:, 1:].reshape(batch, -1)

        glob_rot, glob_pos = self._forward_kinematics(rots, rest_joints)

        # Skinning transforms relative to the rest pose: x -> R_j x + (p_j - R_j J_j).
        offset = glob_pos - (glob_rot @ rest_joints.unsqueeze(-1)).squeeze(-1)
        rel = torch.cat((glob_rot, offset.unsqueeze(-1)), dim=-1)  # (B, 55, 3, 4)
        step = self.chunk_size if (self.chunk_size and device.type == "cpu") else batch
        if batch <= step:
            vertices = self._skin(v_shaped, pose_feature, rel)
        else:
            # On CPU, blocks of a few dozen bodies keep the (12, B, V) blended transforms in cache (measured
            # ~30 % faster at batch 1024); this is a blocking loop, the math is the same for every block.
            vertices = torch.cat(
                [
                    self._skin(v_shaped[i:i + step], pose_feature[i:i + step], rel[i:i + step])
                    for i in range(0, batch, step)
                ]
            )

        extra = vertices.index_select(1, self.extra_joint_vertex_ids)
        landmarks = self._landmarks(vertices, glob_rot[:, NECK_JOINT], batch)
        joints = torch.cat((glob_pos, extra, landmarks), dim=1)

        transl = given.get("transl")
        if transl is not None:
            t = transl.reshape(-1, 1, 3)
            vertices = vertices + t
            joints = joints + t
        return BodyOutput(vertices=vertices, joints=joints)

    def _landmarks(self, vertices: Tensor, neck_rot: Tensor, batch: int) -> Tensor:
        """Static face landmarks and, with the face contour, the 17 contour points picked by the neck yaw."""
        nv = self.num_vertices
        static = vertices.index_select(1, self._lmk_vertex_ids.view(-1)).view(batch, -1, 3, 3)
        static = (static * self.lmk_bary_coords.unsqueeze(-1)).sum(dim=2)
        if not self.face_contour:
            return static
        bins = self._yaw_bins(neck_rot)
        ids = self._dyn_lmk_vertex_ids[bins]  # (B, 17, 3)
        bary = self.dynamic_lmk_bary_coords[bins]  # (B, 17, 3)
        flat = vertices.reshape(batch * nv, 3)
        offs = (torch.arange(batch, device=vertices.device) * nv).view(batch, 1, 1)
        dyn = flat[(ids + offs).view(-1)].view(batch, -1, 3, 3)
        dyn = (dyn * bary.unsqueeze(-1)).sum(dim=2)
        return torch.cat((static, dyn), dim=1)

    @staticmethod
    def _yaw_bins(neck_rot: Tensor) -> Tensor:
        """Contour look-up bin from the global neck rotation (yaw in whole degrees, negative side mirrored)."""
        with torch.no_grad():
            r = neck_rot
            # Rotation about y of the ZYX Euler decomposition: atan2(-r20, sqrt(r00^2 + r10^2)).
            pitch = torch.atan2(-r[:, 2, 0], torch.sqrt(r[:, 0, 0] * r[:, 0, 0] + r[:, 1, 0] * r[:, 1, 0]))
            deg = torch.round(torch.clamp(-pitch * 180.0 / math.pi, max=_MAX_YAW_BIN)).long()
            mirrored = torch.where(deg < -_MAX_YAW_BIN, 2 * _MAX_YAW_BIN, _MAX_YAW_BIN - deg)
            return torch.where(deg < 0, mirrored, deg)
