"""SMPL-X body model as a batched, differentiable torch module (linear blend skinning + face landmarks)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import torch
from torch import Tensor

from ..geometry.rotations import axis_angle_to_rotmat_minus_identity
from .base import BodyLayer
from .joint_sets import JointSet
from .model_files import (
    NUM_SMPLX_JOINTS,
    BodyModelFileError,
    check_smplx_arrays,
    load_smplx_arrays,
    resolve_model_dir,
    split_shapedirs,
)
from .skinning import no_autocast, shape_basis, translate

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

#: (name, number of joints) of the SMPL-X pose inputs in the order of the 55 kinematic joints.
SMPLX_POSE_PARTS: tuple[tuple[str, int], ...] = (
    ("global_orient", 1),
    ("body_pose", NUM_BODY_JOINTS),
    ("jaw_pose", 1),
    ("leye_pose", 1),
    ("reye_pose", 1),
    ("left_hand_pose", NUM_HAND_JOINTS),
    ("right_hand_pose", NUM_HAND_JOINTS),
)
#: The SMPL-X parameters the network predicts, in smplx naming and output order (the eyes are not predicted);
#: the one list of these names for model, estimator, evaluation and results.
SMPLX_PARAM_NAMES: tuple[str, ...] = (
    "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression", "transl"
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


class BodyModel(BodyLayer):
    """SMPL-X layer: pose (axis-angle or rotation matrices), shape and expression to mesh and 144 joints."""

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
        super().__init__(dtype, device)
        check_smplx_arrays(arrays)
        self.gender = gender
        self.flat_hand_mean = flat_hand_mean
        self.face_contour = face_contour

        num_verts = int(np.asarray(arrays["v_template"]).shape[0])
        shape_dirs, expr_dirs, num_betas, num_expression = split_shapedirs(
            np.asarray(arrays["shapedirs"], dtype=np.float64), num_betas, num_expression
        )
        self.num_betas = num_betas
        self.num_expression = num_expression
        parents = np.asarray(arrays["kintree_table"], dtype=np.int64)[0].copy()
        parents[0] = -1
        vertex_ids = np.array(list(SMPLX_VERTEX_JOINT_IDS.values()), dtype=np.int64)
        if vertex_ids.max() >= num_verts:
            raise BodyModelFileError(f"the model has {num_verts} vertices; SMPL-X needs 10475")
        self.vertex_ids: dict[str, int] = dict(SMPLX_VERTEX_JOINT_IDS)

        buf = self._buf
        self._register_common(arrays, parents, np.asarray(arrays["f"], dtype=np.int64))
        buf("shapedirs", shape_dirs)
        buf("exprdirs", expr_dirs)
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
        self._num_static = int(np.asarray(arrays["lmk_faces_idx"]).shape[0])
        self._num_dynamic = int(np.asarray(arrays["dynamic_lmk_faces_idx"]).shape[1]) if face_contour else 0
        self.num_kinematic_joints = NUM_SMPLX_JOINTS
        self.num_joints = NUM_SMPLX_JOINTS + len(vertex_ids) + self._num_static + self._num_dynamic
        self._register_derived()

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

    def _derived_values(self) -> Iterator[tuple[str, Tensor, bool]]:  # noqa: D102 - see BodyLayer
        f64 = torch.float64
        dirs = torch.cat((self.shapedirs, self.exprdirs), dim=-1).to(f64)  # (V, 3, nb + ne)
        basis, offset = shape_basis(self.J_regressor.to(f64), self.v_template.to(f64), dirs)
        yield "_shape_basis", basis, False
        yield "_shape_offset", offset, False
        yield "_lmk_vertex_ids", self.faces[self.lmk_faces_idx], True
        if self.face_contour:
            yield "_dyn_lmk_vertex_ids", self.faces[self.dynamic_lmk_faces_idx], True

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
            "global_orient": global_orient, "body_pose": body_pose, "left_hand_pose": left_hand_pose,
            "right_hand_pose": right_hand_pose, "jaw_pose": jaw_pose, "leye_pose": leye_pose, "reye_pose": reye_pose,
            "betas": betas, "expression": expression, "transl": transl,
        }
        # Inputs follow the module: cast once here, the body math below never leaves the buffer dtype.
        given, batch = self._cast_inputs(given)
        with no_autocast(self.device):
            return self._forward(given, batch, pose2rot)

    def _forward(self, given: dict[str, Tensor], batch: int, pose2rot: bool) -> BodyOutput:
        parts = {n: self._pose_part(given.get(n), n, j, batch, pose2rot) for n, j in SMPLX_POSE_PARTS}
        if pose2rot:
            means = {"left_hand_pose": self.left_hand_mean, "right_hand_pose": self.right_hand_mean}
            full = []
            for name, joints in SMPLX_POSE_PARTS:
                p = parts[name]
                if p is None:
                    p = self.v_template.new_zeros(batch, joints, 3)
                if name in means:
                    p = p + means[name].view(1, joints, 3)
                full.append(p)
            rot_minus_eye = axis_angle_to_rotmat_minus_identity(torch.cat(full, dim=1))
        else:
            eye = torch.eye(3, dtype=self.dtype, device=self.device)
            full = [eye.expand(batch, joints, 3, 3) if parts[name] is None else parts[name]
                    for name, joints in SMPLX_POSE_PARTS]
            rot_minus_eye = torch.cat(full, dim=1) - eye

        betas = self._coeffs(given.get("betas"), "betas", self.num_betas, batch)
        expr = self._coeffs(given.get("expression"), "expression", self.num_expression, batch)
        posed = self._skin(rot_minus_eye, torch.cat((betas, expr), dim=1))
        extra = posed.vertices.index_select(1, self.extra_joint_vertex_ids)
        landmarks = self._landmarks(posed.vertices, posed.joint_rots[:, NECK_JOINT], batch)
        joints = torch.cat((posed.joints, extra, landmarks), dim=1)
        vertices, joints = translate(given.get("transl"), posed.vertices, joints)
        return BodyOutput(vertices=vertices, joints=joints)

    def face_contour_bins(self, global_orient: Tensor, body_pose: Tensor) -> Tensor:
        """Head-angle bins (B,) that pick the 17 face-contour landmarks for these axis-angle poses.

        Two runs whose bins differ use different contour vertices: comparing their contour joints measures the
        look-up, not the arithmetic (tests of reduced precision compare them only where the bins agree).
        """
        poses = torch.cat((global_orient.reshape(-1, 1, 3), body_pose.reshape(-1, NUM_BODY_JOINTS, 3)), dim=1)
        poses = poses.to(device=self.device, dtype=self.dtype)
        with no_autocast(self.device):
            rots = axis_angle_to_rotmat_minus_identity(poses) + torch.eye(3, dtype=self.dtype, device=self.device)
            chain, j = [], NECK_JOINT
            parents = self.parents.tolist()
            while j >= 0:
                chain.append(j)
                j = parents[j]
            neck = rots[:, chain[-1]]
            for j in reversed(chain[:-1]):
                neck = neck @ rots[:, j]
            return self._yaw_bins(neck)

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
