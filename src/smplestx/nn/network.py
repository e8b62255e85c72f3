"""The SMPLest-X network: crops in, SMPL-X parameters out (no body model, no file I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .attention import set_attention
from .decoder import DecoderHead, DecoderOutput
from ..geometry.rotations import rot6d_to_axis_angle
from .vit import ViTEncoder

if TYPE_CHECKING:  # configs live in models/, above the layers; only their type is needed here
    from ..models.smplest_x import SMPLestXConfig


@dataclass
class NetworkOutput:
    """Axis-angle SMPL-X parameters and camera translation, plus the raw intermediates."""

    global_orient: torch.Tensor  # (B, 3)
    body_pose: torch.Tensor  # (B, 21, 3)
    left_hand_pose: torch.Tensor  # (B, 15, 3)
    right_hand_pose: torch.Tensor  # (B, 15, 3)
    jaw_pose: torch.Tensor  # (B, 3)
    betas: torch.Tensor  # (B, 10)
    expression: torch.Tensor  # (B, 10)
    transl: torch.Tensor  # (B, 3) body camera translation
    lhand_root_pose: torch.Tensor  # (B, 3) predicted, unused at inference
    rhand_root_pose: torch.Tensor  # (B, 3)
    face_root_pose: torch.Tensor  # (B, 3)
    img_feat: torch.Tensor  # (B, D, 16, 12)
    task_tokens: torch.Tensor  # (B, 80, D)
    decoder: DecoderOutput


class PoseNetwork(nn.Module):
    """What both families' networks share over a ViT ``encoder``: the attention switch, checkpointing, camera map."""

    config: SMPLestXConfig
    encoder: ViTEncoder

    def set_attention(self, kind: str) -> "PoseNetwork":
        """Attention kernel of every block: "sdpa" (fused, default), "eager" (the reference's softmax(QK^T)V) or "bf16"."""
        set_attention(self, kind)
        return self

    def set_grad_checkpointing(self, enable: bool = True) -> "PoseNetwork":
        """Training only: recompute each encoder block's activations in the backward pass instead of storing them."""
        self.encoder.grad_checkpointing = enable
        return self

    def camera_translation(self, cam: torch.Tensor) -> torch.Tensor:
        """(tx, ty, c_z) -> (tx, ty, k * sigmoid(c_z))."""
        return torch.cat((cam[:, :2], self.config.camera_depth_scale * torch.sigmoid(cam[:, 2:3])), dim=1)


class SMPLestXNet(PoseNetwork):
    """ViT encoder + decoder head, with the rot6d and camera maps of SMPLest-X."""

    def __init__(self, config: SMPLestXConfig) -> None:
        super().__init__()
        self.config = config
        e, d = config.encoder, config.decoder
        self.encoder = ViTEncoder(
            e.embed_dim,
            e.depth,
            e.num_heads,
            mlp_ratio=e.mlp_ratio,
            qkv_bias=e.qkv_bias,
            task_tokens_num=e.task_tokens_num,
            img_size=e.img_size,
            patch_size=e.patch_size,
            stem=e.stem,
            drop_path_rate=e.drop_path_rate,
        )
        self.decoder = DecoderHead(d.feat_dim, d.dim_out, d.task_tokens_num, d.depth, d.heads, d.dim_head)


    def forward(self, crops: torch.Tensor) -> NetworkOutput:
        """Run the network on crops (B, 3, 512, 384) in [0, 1]."""
        # The reference resizes with F.interpolate's default ("nearest") mode.
        body_img = F.interpolate(crops, size=self.config.input_body_shape)
        img_feat, task_tokens = self.encoder(body_img)
        raw = self.decoder(task_tokens, img_feat)
        b = crops.shape[0]
        # Rotations and the camera are computed in float32 (or float64) even under autocast.
        post_dtype = torch.float64 if crops.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=crops.device.type, enabled=False):
            r = {k: v.to(post_dtype) for k, v in vars(raw).items()}
            aa = lambda x, n: rot6d_to_axis_angle(x.reshape(b, n, 6))  # noqa: E731
            return NetworkOutput(
                global_orient=aa(r["body_root_pose"], 1)[:, 0],
                body_pose=aa(r["body_pose"], 21),
                left_hand_pose=aa(r["lhand_pose"], 15),
                right_hand_pose=aa(r["rhand_pose"], 15),
                jaw_pose=aa(r["face_jaw_pose"], 1)[:, 0],
                betas=r["body_betas"],
                expression=r["face_expression"],
                transl=self.camera_translation(r["body_cam"]),
                lhand_root_pose=aa(r["lhand_root_pose"], 1)[:, 0],
                rhand_root_pose=aa(r["rhand_root_pose"], 1)[:, 0],
                face_root_pose=aa(r["face_root_pose"], 1)[:, 0],
                img_feat=img_feat,
                task_tokens=task_tokens,
                decoder=raw,
            )
