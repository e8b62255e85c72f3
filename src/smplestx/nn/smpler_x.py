"""The SMPLer-X network: ViT with 31 task tokens, heat-map body branch, part boxes, RoI hand branch, face heads.

Module and parameter names follow the official checkpoint (``body_position_net.conv.0`` ...) so official
weights load without renaming. No body model and no file I/O here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .heatmap import restore_bbox, sample_joint_features, soft_argmax_2d, soft_argmax_3d
from .network import PoseNetwork
from .roi_align import roi_align
from ..geometry.rotations import rot6d_to_axis_angle
from .vit import ViTEncoder

if TYPE_CHECKING:  # configs live in models/, above the layers; only their type is needed here
    from ..models.smpler_x import SMPLerXConfig

#: Heat-map joints of the body (the first 25 of the 137) and of one hand.
BODY_POS_JOINTS = 25
HAND_POS_JOINTS = 20
#: Rotations regressed per part (root excluded for the body).
BODY_ROT_JOINTS = 21
HAND_ROT_JOINTS = 15
SHAPE_DIM = 10
EXPR_DIM = 10
#: Task-token layout of the encoder: 0 shape, 1 camera, 2 expression, 3 jaw, 4-5 unused hand tokens, 6-30 body joints.
TOKEN_SHAPE, TOKEN_CAM, TOKEN_EXPR, TOKEN_JAW, TOKEN_BODY = 0, 1, 2, 3, 6
#: restore_bbox extension factors of the reference (hands, face).
HAND_BOX_EXTENSION, FACE_BOX_EXTENSION = 2.0, 1.5


def _conv1x1(dims: list[int], bnrelu_final: bool) -> nn.Sequential:
    """1x1 convolutions, BatchNorm + ReLU between them (and after the last if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Conv2d(a, b, kernel_size=1))
        if i < len(dims) - 2 or bnrelu_final:
            layers += [nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _deconv(dims: list[int]) -> nn.Sequential:
    """2x transposed convolutions (kernel 4, no bias), each followed by BatchNorm + ReLU."""
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.ConvTranspose2d(a, b, kernel_size=4, stride=2, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _linear(dims: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class PositionNet(nn.Module):
    """1x1 conv to joint-major 3D heat maps (channel j * D + d), their softmax and soft-argmax."""

    def __init__(self, feat_dim: int, joints: int, hm_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.joints, self.hm_shape = joints, hm_shape
        self.conv = _conv1x1([feat_dim, joints * hm_shape[0]], bnrelu_final=False)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the softmaxed heat maps (B, J, D, H, W) and the joints (B, J, 3) in cells (x, y, z)."""
        logits = self.conv(feat).view(-1, self.joints, *self.hm_shape)
        coord = soft_argmax_3d(logits)
        hm = F.softmax(logits.flatten(2), dim=2).view_as(logits)
        return hm, coord


class BodyRegressor(nn.Module):
    """Root and body 6D rotations from the body tokens + joint coordinates; shape and camera from their tokens."""

    def __init__(self, feat_dim: int) -> None:
        super().__init__()
        self.body_conv = _linear([feat_dim, 512])
        self.root_pose_out = _linear([BODY_POS_JOINTS * (512 + 3), 6])
        self.body_pose_out = _linear([BODY_POS_JOINTS * (512 + 3), BODY_ROT_JOINTS * 6])
        self.shape_out = _linear([feat_dim, SHAPE_DIM])
        self.cam_out = _linear([feat_dim, 3])

    def forward(
        self, body_tokens: torch.Tensor, shape_token: torch.Tensor, cam_token: torch.Tensor, joint_img: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return root 6D (B, 6), body 6D (B, 126), betas (B, 10), raw camera (B, 3)."""
        feat = torch.cat((self.body_conv(body_tokens), joint_img), dim=2).flatten(1)
        return self.root_pose_out(feat), self.body_pose_out(feat), self.shape_out(shape_token), self.cam_out(cam_token)


class BoxNet(nn.Module):
    """Left-hand, right-hand and face boxes: centres by 2D soft-argmax on an 8x map, sizes by MLP at the centre."""

    def __init__(self, feat_dim: int, hm_depth: int) -> None:
        super().__init__()
        self.deconv = _deconv([feat_dim + BODY_POS_JOINTS * hm_depth, 256, 256, 256])
        self.bbox_center = _conv1x1([256, 3], bnrelu_final=False)
        self.lhand_size = _linear([256, 256, 2])
        self.rhand_size = _linear([256, 256, 2])
        self.face_size = _linear([256, 256, 2])

    def forward(self, feat: torch.Tensor, body_hm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return centres (B, 3, 2) and sizes (B, 3, 2) in body heat-map cells, rows (lhand, rhand, face)."""
        b, j, d, h, w = body_hm.shape
        x = self.deconv(torch.cat((feat, body_hm.reshape(b, j * d, h, w)), dim=1))
        center = soft_argmax_2d(self.bbox_center(x))
        # Sizes read the feature at the (detached) centre; upsampled 8x, so /8 brings centres to body cells.
        sizes = [
            head(sample_joint_features(x, center[:, i : i + 1].detach())[:, 0])
            for i, head in enumerate((self.lhand_size, self.rhand_size, self.face_size))
        ]
        return center / 8, torch.stack(sizes, dim=1)


class HandRoI(nn.Module):
    """Upsample the features ``upscale`` times, RoIAlign both hands (left mirrored), 1x1 conv back to feat_dim."""

    def __init__(self, feat_dim: int, upscale: int) -> None:
        super().__init__()
        if upscale not in (1, 2, 4):
            raise ValueError(f"upscale must be 1, 2 or 4, got {upscale}")
        self.upscale = upscale
        steps = {1: [], 2: [feat_dim // 2], 4: [feat_dim // 2, feat_dim // 4]}[upscale]
        self.deconv = _deconv([feat_dim, *steps]) if steps else nn.Identity()
        self.conv = _conv1x1([steps[-1] if steps else feat_dim, feat_dim], bnrelu_final=False)

    def forward(
        self, feat: torch.Tensor, lhand_roi: torch.Tensor, rhand_roi: torch.Tensor, out_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """RoIs (B, 5) on the upsampled map -> hand features (2B, C, h, w) [left mirrored; right] and the raw crops."""
        x = self.deconv(feat)
        left = roi_align(x, lhand_roi, out_size)
        right = roi_align(x, rhand_roi, out_size)
        return self.conv(torch.cat((torch.flip(left, [3]), right))), left, right


class HandRegressor(nn.Module):
    """Finger 6D rotations from features sampled at the 20 hand joints plus their coordinates."""

    def __init__(self, feat_dim: int) -> None:
        super().__init__()
        self.hand_conv = _conv1x1([feat_dim, 512], bnrelu_final=True)
        self.hand_pose_out = _linear([HAND_POS_JOINTS * (512 + 3), HAND_ROT_JOINTS * 6])

    def forward(self, feat: torch.Tensor, joint_img: torch.Tensor) -> torch.Tensor:
        """Return (N, 90) raw 6D rotations."""
        sampled = sample_joint_features(self.hand_conv(feat), joint_img[:, :, :2])
        return self.hand_pose_out(torch.cat((sampled, joint_img), dim=2).flatten(1))


class FaceRegressor(nn.Module):
    """Expression and jaw 6D rotation, one linear layer each."""

    def __init__(self, feat_dim: int) -> None:
        super().__init__()
        self.expr_out = _linear([feat_dim, EXPR_DIM])
        self.jaw_pose_out = _linear([feat_dim, 6])

    def forward(self, expr_token: torch.Tensor, jaw_token: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return expression (B, 10) and jaw 6D (B, 6)."""
        return self.expr_out(expr_token), self.jaw_pose_out(jaw_token)


@dataclass
class SMPLerXOutput:
    """Axis-angle SMPL-X parameters, camera translation, part boxes, and the raw intermediates."""

    global_orient: torch.Tensor  # (B, 3)
    body_pose: torch.Tensor  # (B, 21, 3)
    left_hand_pose: torch.Tensor  # (B, 15, 3) un-mirrored, offsets from the mean hand
    right_hand_pose: torch.Tensor  # (B, 15, 3)
    jaw_pose: torch.Tensor  # (B, 3)
    betas: torch.Tensor  # (B, 10)
    expression: torch.Tensor  # (B, 10)
    transl: torch.Tensor  # (B, 3) crop camera translation (m)
    lhand_box: torch.Tensor  # (B, 4) x1, y1, x2, y2 in pixels of the 512x384 crop
    rhand_box: torch.Tensor  # (B, 4)
    face_box: torch.Tensor  # (B, 4)
    joint_img: torch.Tensor  # (B, 65, 3) body + hand heat-map joints in body heat-map cells (hand z in hand cells)
    img_feat: torch.Tensor  # (B, C, 16, 12)
    task_tokens: torch.Tensor  # (B, 31, C)
    #: Raw head outputs and crops by reference name (body_root_pose_6d, lhand_roi, hand_feat, ...).
    intermediates: dict[str, torch.Tensor] = field(default_factory=dict)


class SMPLerXNet(PoseNetwork):
    """SMPLer-X: crops (B, 3, 512, 384) in [0, 1] -> SMPL-X parameters and part boxes."""

    def __init__(self, config: SMPLerXConfig) -> None:
        super().__init__()
        self.config = config
        e, c = config.encoder, config.feat_dim
        self.encoder = ViTEncoder(
            e.embed_dim, e.depth, e.num_heads, mlp_ratio=e.mlp_ratio, qkv_bias=e.qkv_bias,
            task_tokens_num=e.task_tokens_num, img_size=e.img_size, patch_size=e.patch_size,
            drop_path_rate=e.drop_path_rate, stem=e.stem,
        )
        self.body_position_net = PositionNet(c, BODY_POS_JOINTS, config.output_hm_shape)
        self.body_regressor = BodyRegressor(c)
        self.box_net = BoxNet(c, config.output_hm_shape[0])
        self.hand_roi_net = HandRoI(c, config.upscale)
        self.hand_position_net = PositionNet(c, HAND_POS_JOINTS, config.output_hand_hm_shape)
        self.hand_regressor = HandRegressor(c)
        self.face_regressor = FaceRegressor(c)


    def _boxes(self, center: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
        """(B, 3, 2) centres and sizes -> (B, 3, 4) boxes in pixels of the 256x192 body input."""
        cfg = self.config
        geo = {"hm_shape": cfg.output_hm_shape[1:], "input_shape": cfg.input_body_shape}
        hand_ar = cfg.input_hand_shape[1] / cfg.input_hand_shape[0]
        face_ar = cfg.input_face_shape[1] / cfg.input_face_shape[0]
        return torch.stack(
            [
                restore_bbox(center[:, 0], size[:, 0], aspect_ratio=hand_ar, extension=HAND_BOX_EXTENSION, **geo),
                restore_bbox(center[:, 1], size[:, 1], aspect_ratio=hand_ar, extension=HAND_BOX_EXTENSION, **geo),
                restore_bbox(center[:, 2], size[:, 2], aspect_ratio=face_ar, extension=FACE_BOX_EXTENSION, **geo),
            ],
            dim=1,
        ).detach()

    def _rois(self, box: torch.Tensor) -> torch.Tensor:
        """(B, 4) body-input box -> (B, 5) RoI (batch index, x1, y1, x2, y2) on the upsampled feature map."""
        cfg, up = self.config, self.hand_roi_net.upscale
        (hb, wb), (_, hh, wh) = cfg.input_body_shape, cfg.output_hm_shape
        # Same operation order as the reference: to heat-map cells, then times the upscale.
        x = box[:, 0::2] / wb * wh * up
        y = box[:, 1::2] / hb * hh * up
        idx = torch.arange(box.shape[0], device=box.device, dtype=box.dtype)[:, None]
        return torch.cat((idx, x[:, :1], y[:, :1], x[:, 1:], y[:, 1:]), dim=1)

    def forward(self, crops: torch.Tensor) -> SMPLerXOutput:
        """Run the network on crops (B, 3, 512, 384) in [0, 1]."""
        cfg = self.config
        b = crops.shape[0]
        # The reference resizes with F.interpolate's default ("nearest") mode and no normalisation.
        img_feat, tokens = self.encoder(F.interpolate(crops, size=cfg.input_body_shape))
        body_hm, body_joint_img = self.body_position_net(img_feat)
        root_6d, body_6d, betas, cam = self.body_regressor(
            tokens[:, TOKEN_BODY:], tokens[:, TOKEN_SHAPE], tokens[:, TOKEN_CAM], body_joint_img.detach()
        )
        center, size = self.box_net(img_feat, body_hm.detach())
        boxes = self._boxes(center, size)  # (B, 3, 4) in 256x192 pixels
        lroi, rroi = self._rois(boxes[:, 0]), self._rois(boxes[:, 1])
        hand_hm = cfg.output_hand_hm_shape
        hand_feat, lcrop, rcrop = self.hand_roi_net(img_feat, lroi, rroi, (hand_hm[1], hand_hm[2]))
        _, hand_joint_img = self.hand_position_net(hand_feat)
        hand_6d = self.hand_regressor(hand_feat, hand_joint_img.detach())
        expression, jaw_6d = self.face_regressor(tokens[:, TOKEN_EXPR], tokens[:, TOKEN_JAW])

        # Hand joints: un-mirror the left x, then map x, y from hand cells to body cells through the box.
        left_j, right_j = hand_joint_img[:b], hand_joint_img[b:]
        left_j = torch.cat((hand_hm[2] - 1 - left_j[..., :1], left_j[..., 1:]), dim=2)
        (hb, wb), (_, hh, wh) = cfg.input_body_shape, cfg.output_hm_shape
        mapped = []
        for joints, box in ((left_j, boxes[:, 0]), (right_j, boxes[:, 1])):
            x = joints[..., 0] * ((box[:, None, 2] - box[:, None, 0]) / wb * wh / hand_hm[2]) + box[:, None, 0] / wb * wh
            y = joints[..., 1] * ((box[:, None, 3] - box[:, None, 1]) / hb * hh / hand_hm[1]) + box[:, None, 1] / hb * hh
            mapped.append(torch.stack((x, y, joints[..., 2]), dim=2))
        joint_img = torch.cat((body_joint_img, *mapped), dim=1)

        # Crop pixels: the body input is a 2x subsampling of the crop in each axis.
        sx, sy = cfg.input_img_shape[1] / wb, cfg.input_img_shape[0] / hb
        crop_boxes = boxes * boxes.new_tensor([sx, sy, sx, sy])
        post = torch.float64 if crops.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=crops.device.type, enabled=False):
            aa = lambda x, n: rot6d_to_axis_angle(x.to(post).reshape(x.shape[0], n, 6))  # noqa: E731
            hand_aa = aa(hand_6d, HAND_ROT_JOINTS)
            # The left hand was predicted mirrored: (x, y, z) -> (x, -y, -z) per joint.
            left_aa = hand_aa[:b] * hand_aa.new_tensor([1.0, -1.0, -1.0])
            return SMPLerXOutput(
                global_orient=aa(root_6d, 1)[:, 0],
                body_pose=aa(body_6d, BODY_ROT_JOINTS),
                left_hand_pose=left_aa,
                right_hand_pose=hand_aa[b:],
                jaw_pose=aa(jaw_6d, 1)[:, 0],
                betas=betas.to(post),
                expression=expression.to(post),
                transl=self.camera_translation(cam.to(post)),
                lhand_box=crop_boxes[:, 0],
                rhand_box=crop_boxes[:, 1],
                face_box=crop_boxes[:, 2],
                joint_img=joint_img,
                img_feat=img_feat,
                task_tokens=tokens,
                intermediates={
                    "body_joint_img": body_joint_img,
                    "body_root_pose_6d": root_6d,
                    "body_pose_6d": body_6d,
                    "cam_param": cam,
                    "lhand_center": center[:, 0], "rhand_center": center[:, 1], "face_center": center[:, 2],
                    "lhand_size": size[:, 0], "rhand_size": size[:, 1], "face_size": size[:, 2],
                    "body_boxes": boxes,
                    "lhand_roi": lroi, "rhand_roi": rroi,
                    "lhand_roi_feat": lcrop, "rhand_roi_feat": rcrop,
                    "hand_feat": hand_feat,
                    "hand_joint_img_raw": hand_joint_img,
                    # Training targets compare against hand joints in hand-crop cells (left un-mirrored).
                    "joint_img_crop_cells": torch.cat((body_joint_img, left_j, right_j), dim=1),
                    "hand_pose_6d": hand_6d,
                    "jaw_pose_6d": jaw_6d,
                },
            )
