"""A reference-style model for benchmarks: eager softmax attention and the `smplx` package's layer.

The reference implementation runs the same network with hand-written (eager) attention and
calls the `smplx` package for the body; this rebuilds that on the same weights so speed can be
compared on one machine. The `smplx` package is non-commercial: benchmark/test oracle only.
"""

from __future__ import annotations

from pathlib import Path

import torch

from smplestx.body import resolve_model_dir
from smplestx.models.smplest_x import SMPLestX
from smplestx.nn.network import SMPLestXNet


class SmplxPackageBody(torch.nn.Module):
    """The `smplx` package's SMPL-X layer behind our BodyModel call signature."""

    def __init__(self, model_dir: str | Path) -> None:
        super().__init__()
        import smplx

        root = resolve_model_dir(model_dir).parent
        self.layer = smplx.create(str(root), "smplx", gender="NEUTRAL", use_pca=False, use_face_contour=True,
                                  num_betas=10, num_expression_coeffs=10)
        self.v_template = self.layer.v_template
        self.faces_np = self.layer.faces.astype("int64")

    def forward(self, **kw: torch.Tensor):
        """Call smplx with flattened poses and zero eye poses."""
        b = kw["betas"].shape[0]
        kw = {k: v.reshape(b, -1) for k, v in kw.items()}
        z = torch.zeros(b, 3, dtype=kw["betas"].dtype)
        return self.layer(**kw, leye_pose=z, reye_pose=z)


def reference_style(model: SMPLestX, body_dir: str | Path) -> SMPLestX:
    """Same weights as ``model``, eager attention, `smplx` package body."""
    net = SMPLestXNet(model.config).set_attention("eager").eval()
    net.load_state_dict(model.net.state_dict())
    return SMPLestX(net, SmplxPackageBody(body_dir)).eval()
