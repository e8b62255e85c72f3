"""The full predictor: network + SMPL-X body model, crops in, meshes and joints out."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, overload

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


@dataclass
class TrainOutput:
    """What the training losses read from one forward pass (B crops); float32, or float64 for a float64 model.

    Joints are the 137 supervision joints (``SMPLX_137``) in the reference's training conventions.
    """

    pose: torch.Tensor  # (B, 53, 3) axis-angle: root, 21 body, 15 left hand, 15 right hand, jaw
    lhand_root_pose: torch.Tensor  # (B, 3) axis-angle from the hand-root head (global left-wrist orientation)
    rhand_root_pose: torch.Tensor  # (B, 3)
    betas: torch.Tensor  # (B, 10)
    expression: torch.Tensor  # (B, 10)
    joint_cam: torch.Tensor  # (B, 137, 3) metres, pelvis-relative (the reference's ``joint_cam_wo_ra``)
    smplx_joint_cam: torch.Tensor  # (B, 137, 3) as joint_cam, but hands wrist-relative and face neck-relative
    joint_proj: torch.Tensor  # (B, 137, 2) projected joints in heat-map cells (x over 12, y over 16)


def part_relative(joint_cam: torch.Tensor) -> torch.Tensor:
    """Make the hands of (B, 137, 3) pelvis-relative joints wrist-relative and the face neck-relative."""
    parts, j = SMPLX_137.parts, joint_cam
    lh, rh, face = parts["lhand"], parts["rhand"], parts["face"]
    # The 137 set is laid out body | left hand | right hand | face, so the pieces concatenate back in order.
    return torch.cat(
        (
            j[:, : lh.start],
            j[:, lh.start : lh.stop] - j[:, SMPLX_137.lwrist, None],
            j[:, rh.start : rh.stop] - j[:, SMPLX_137.rwrist, None],
            j[:, face.start : face.stop] - j[:, SMPLX_137.neck, None],
        ),
        dim=1,
    )


_PARAMS = (
    "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression", "transl"
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

    @overload
    def forward(
        self, crops: torch.Tensor, return_intermediates: bool = False, *, train: Literal[False] = False
    ) -> CropPrediction: ...

    @overload
    def forward(
        self, crops: torch.Tensor, return_intermediates: bool = False, *, train: Literal[True]
    ) -> TrainOutput: ...

    def forward(
        self, crops: torch.Tensor, return_intermediates: bool = False, *, train: bool = False
    ) -> CropPrediction | TrainOutput:
        """Predict SMPL-X for crops (B, 3, 512, 384) in [0, 1]; ``train=True`` returns what the losses need.

        The training forward is a keyword of ``forward`` (not a separate method) so that it runs through
        ``__call__`` and hence through DistributedDataParallel's gradient-sync hooks when the model is wrapped.
        """
        if train:
            return self._train_forward(crops)
        param = next(self.net.parameters())
        out = self.net(crops.to(device=param.device, dtype=param.dtype))
        body_dtype = self.body.v_template.dtype
        with torch.autocast(device_type=crops.device.type, enabled=False):
            p = {k: getattr(out, k).to(body_dtype) for k in _PARAMS}
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

    def _train_forward(self, crops: torch.Tensor) -> TrainOutput:
        """Network + body layer with gradients, joints in the reference's training conventions."""
        param = next(self.net.parameters())
        out = self.net(crops.to(device=param.device, dtype=param.dtype))
        body_dtype = self.body.v_template.dtype
        cfg = self.config
        with torch.autocast(device_type=crops.device.type, enabled=False):
            p = {k: getattr(out, k).to(body_dtype) for k in _PARAMS}
            joints = self.body(**p).joints[:, self.joint_index]
            # Same operation order as the reference (pixels of the 256x192 body input, then heat-map cells).
            z = joints[..., 2] + 1e-4
            x = joints[..., 0] / z * cfg.focal[0] + cfg.princpt[0]
            y = joints[..., 1] / z * cfg.focal[1] + cfg.princpt[1]
            (hb, wb), (_, hh, wh) = cfg.input_body_shape, cfg.output_hm_shape
            proj = torch.stack((x / wb * wh, y / hb * hh), dim=2)
            joint_cam = joints - joints[:, SMPLX_137.root, None]
            parts = ("body_pose", "left_hand_pose", "right_hand_pose")
            pose = torch.cat((p["global_orient"][:, None], *(p[k] for k in parts), p["jaw_pose"][:, None]), dim=1)
            return TrainOutput(
                pose=pose,
                lhand_root_pose=out.lhand_root_pose.to(body_dtype),
                rhand_root_pose=out.rhand_root_pose.to(body_dtype),
                betas=p["betas"],
                expression=p["expression"],
                joint_cam=joint_cam,
                smplx_joint_cam=part_relative(joint_cam),
                joint_proj=proj,
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
    body_models: str | Path | None = None,
    config: str | Path | ModelConfig | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    attention: str = "sdpa",
) -> SMPLestX:
    """Load a model by name (``smplest-x-h``, downloaded once; see ``smplestx.zoo``) or checkpoint path.

    ``body_models`` defaults to ``$SMPLESTX_BODY_MODELS`` or the user config file's ``body_models``.
    ``dtype`` is the network's dtype; the body model runs in float32 (float64 if asked).
    """
    from .user_config import find_body_models
    from .zoo import resolve_model

    body_models = find_body_models(body_models)
    resolved = resolve_model(checkpoint, None if isinstance(config, ModelConfig) else config)
    checkpoint = resolved.checkpoint
    if not isinstance(config, ModelConfig):
        config = resolved.config
    body = BodyModel.from_dir(body_models, "neutral", dtype=torch.float64 if dtype == torch.float64 else torch.float32, device=device)
    net = load_network(checkpoint, config, device=device, dtype=dtype, attention=attention)
    return SMPLestX(net, body).eval()
