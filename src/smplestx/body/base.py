"""Small shared base of the SMPL-X and SMPL layers: buffers, input checks, derived buffers, the skinning call."""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from .skinning import KinematicTree, Skinned, kinematic_levels, skin_bodies


def _refresh_after_load(module: "BodyLayer", _incompatible_keys: object) -> None:
    """load_state_dict post-hook (a module-level function so that the model stays picklable)."""
    module._refresh_derived()


class BodyLayer(nn.Module):
    """Base of the body layers; subclasses define :meth:`_derived_values` and their own forward."""

    #: Bodies per block for the vertex stage on CPU (None: no blocking).
    chunk_size: int | None = 64

    num_vertices: int
    v_template: Tensor
    posedirs: Tensor
    lbs_weights: Tensor
    parents: Tensor
    _shape_basis: Tensor
    _shape_offset: Tensor

    def __init__(self, dtype: torch.dtype, device: str | torch.device) -> None:
        super().__init__()
        self._buf_dtype = dtype
        self._buf_device = device
        self.register_load_state_dict_post_hook(_refresh_after_load)

    def _buf(self, name: str, value: np.ndarray, *, integer: bool = False, persistent: bool = True) -> None:
        """Register a numpy array as a buffer (int64 ids or the layer's float dtype)."""
        dtype = torch.long if integer else self._buf_dtype
        t = torch.as_tensor(np.ascontiguousarray(value), dtype=dtype, device=self._buf_device)
        self.register_buffer(name, t, persistent=persistent)

    def _register_common(self, arrays: Mapping[str, np.ndarray], parents: np.ndarray, faces: np.ndarray) -> None:
        """Buffers every body model has: template, pose blend shapes, regressor, weights, tree, faces."""
        self.num_vertices = int(np.asarray(arrays["v_template"]).shape[0])
        self.num_faces = int(faces.shape[0])
        self._faces_np = faces.astype(np.int64)
        self._buf("v_template", np.asarray(arrays["v_template"], dtype=np.float64))
        # Pose blend shapes as (P, 3, V): pose features (joint-major, row-major entries of R - I) to vertex
        # offsets, coordinate-major (x of all vertices, then y, then z) so that skinning works on contiguous rows.
        self._buf("posedirs", np.asarray(arrays["posedirs"], dtype=np.float64).transpose(2, 1, 0))
        self._buf("J_regressor", np.asarray(arrays["J_regressor"], dtype=np.float64))
        self._buf("lbs_weights", np.asarray(arrays["weights"], dtype=np.float64))
        self._buf("parents", parents, integer=True)
        self._buf("faces", faces, integer=True)
        order, parent_pos, starts = kinematic_levels(parents)
        self._level_starts = starts
        self._buf("_fk_order", order, integer=True, persistent=False)
        self._buf("_fk_parent_pos", parent_pos, integer=True, persistent=False)
        self._buf("_fk_inverse", np.argsort(order), integer=True, persistent=False)

    # ------------------------------------------------------------------------------------------ derived buffers

    def _derived_values(self) -> Iterator[tuple[str, Tensor, bool]]:
        """Tensors computed from the stored buffers (float64 math), as (name, value, is_integer)."""
        raise NotImplementedError

    def _register_derived(self) -> None:
        """Register the derived buffers (not saved in state dicts)."""
        for name, value, integer in self._derived_values():
            self.register_buffer(name, value if integer else value.to(self.v_template.dtype), persistent=False)

    @torch.no_grad()
    def _refresh_derived(self) -> None:
        """Recompute the derived buffers after the stored ones changed (e.g. load_state_dict)."""
        for name, value, _ in self._derived_values():
            getattr(self, name).copy_(value)

    # ---------------------------------------------------------------------------------------------- properties

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

    # ---------------------------------------------------------------------------------------------- inputs

    def _cast_inputs(self, given: Mapping[str, Tensor | None]) -> tuple[dict[str, Tensor], int]:
        """Given (non-None) inputs cast once to the buffers' device and dtype, and the batch size."""
        cast = {k: torch.as_tensor(v).to(device=self.device, dtype=self.dtype) for k, v in given.items()
                if v is not None}
        sizes = {name: (t.shape[0] if t.dim() > 1 else 1) for name, t in cast.items()}
        batch = max(sizes.values(), default=1)
        if any(s not in (1, batch) for s in sizes.values()):
            raise ValueError(f"inconsistent batch sizes: {sizes}")
        return cast, batch

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

    # ---------------------------------------------------------------------------------------------- skinning

    def _skin(self, rot_minus_eye: Tensor, coeffs: Tensor) -> Skinned:
        """Run the shared skinning core over this layer's buffers (blocked vertex stage on CPU)."""
        tree = KinematicTree(self.parents, self._fk_order, self._fk_parent_pos, self._fk_inverse, self._level_starts)
        chunk = self.chunk_size if self.device.type == "cpu" else None
        return skin_bodies(rot_minus_eye, coeffs, self._shape_offset, self._shape_basis, self.posedirs,
                           self.lbs_weights, tree, chunk)
