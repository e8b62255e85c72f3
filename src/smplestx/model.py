"""The full predictor: network + SMPL-X body model, crops in, meshes and joints out."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn

from .body import SMPLX_137, BodyModel
from .config import ModelConfig
from .checkpoint import load_network
from .nn.network import NetworkOutput, SMPLestXNet


@dataclass
class CropPrediction:
    """Per-crop SMPL-X results, named like the ``smplx`` package (B = number of crops).

    Hand poses are the predicted poses WITHOUT the model's mean hand pose: pass them to
    an SMPL-X layer created with ``flat_hand_mean=False`` (the default), as done here.
    """

    global_orient: torch.Tensor  # (B, 3) axis-angle
    body_pose: torch.Tensor  # (B, 21, 3)
    left_hand_pose: torch.Tensor  # (B, 15, 3)
    right_hand_pose: torch.Tensor  # (B, 15, 3)
    jaw_pose: torch.Tensor  # (B, 3)
    betas: torch.Tensor  # (B, 10)
    expression: torch.Tensor  # (B, 10)
    transl: torch.Tensor  # (B, 3) metres, crop camera frame
    vertices: torch.Tensor  # (B, 10475, 3) crop camera frame, transl included
    joints: torch.Tensor  # (B, 137, 3) pelvis-relative
    joints_2d: torch.Tensor  # (B, 137, 2) pixels of the 512x384 crop
    joints_cam: torch.Tensor  # (B, 137, 3) crop camera frame (not root-relative)
    network: NetworkOutput | None = None  # raw intermediates, when asked for

    def to(self, device: str | torch.device) -> "CropPrediction":
        """Move every tensor field to ``device``."""
        return CropPrediction(
            **{f.name: (v.to(device) if isinstance(v := getattr(self, f.name), torch.Tensor) else v) for f in fields(self)}
        )


class SMPLestX(nn.Module):
    """SMPLest-X: the network plus the neutral SMPL-X layer and the crop camera."""

    def __init__(self, net: SMPLestXNet, body: BodyModel) -> None:
        super().__init__()
        self.net = net
        self.body = body
        self.register_buffer("joint_index", torch.tensor(SMPLX_137.index_in_144, dtype=torch.long), persistent=False)

    @property
    def config(self) -> ModelConfig:
        """The network's config."""
        return self.net.config

    def project_to_crop(self, joints_cam: torch.Tensor) -> torch.Tensor:
        """Project crop-camera points to pixels of the 512x384 network input."""
        cfg = self.config
        z = joints_cam[..., 2] + 1e-4
        x = joints_cam[..., 0] / z * cfg.focal[0] + cfg.princpt[0]
        y = joints_cam[..., 1] / z * cfg.focal[1] + cfg.princpt[1]
        # The virtual camera lives on the 256x192 body input; the crop is 512x384.
        sx = cfg.input_img_shape[1] / cfg.input_body_shape[1]
        sy = cfg.input_img_shape[0] / cfg.input_body_shape[0]
        return torch.stack((x * sx, y * sy), dim=-1)

    def forward(self, crops: torch.Tensor, return_intermediates: bool = False) -> CropPrediction:
        """Predict SMPL-X for crops (B, 3, 512, 384) in [0, 1]."""
        param = next(self.net.parameters())
        out = self.net(crops.to(device=param.device, dtype=param.dtype))
        body_dtype = self.body.v_template.dtype
        with torch.autocast(device_type=crops.device.type, enabled=False):
            p = {k: getattr(out, k).to(body_dtype) for k in (
                "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression", "transl"
            )}
            mesh = self.body(**p)
            joints_cam = mesh.joints[:, self.joint_index]
            return CropPrediction(
                **p,
                vertices=mesh.vertices,
                joints=joints_cam - joints_cam[:, SMPLX_137.root : SMPLX_137.root + 1],
                joints_2d=self.project_to_crop(joints_cam),
                joints_cam=joints_cam,
                network=out if return_intermediates else None,
            )

    @torch.inference_mode()
    def predict_crops(self, images: torch.Tensor) -> CropPrediction:
        """Inference on crops (B, 3, 512, 384) float in [0, 1]; no gradients."""
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != tuple(self.config.input_img_shape):
            h, w = self.config.input_img_shape
            raise ValueError(f"expected crops of shape (B, 3, {h}, {w}), got {tuple(images.shape)}")
        return self(images)


def load_model(
    checkpoint: str | Path,
    *,
    body_models: str | Path,
    config: str | Path | ModelConfig | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    attention: str = "sdpa",
) -> SMPLestX:
    """Load an SMPLest-X checkpoint (official .pth.tar or safetensors) with the neutral SMPL-X model.

    ``dtype`` is the network's dtype; the body model runs in float32 (float64 if asked).
    """
    body = BodyModel.from_dir(body_models, "neutral", dtype=torch.float64 if dtype == torch.float64 else torch.float32, device=device)
    net = load_network(checkpoint, config, device=device, dtype=dtype, attention=attention)
    return SMPLestX(net, body).eval()
