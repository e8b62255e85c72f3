"""A training-only 2D key-point heat-map head on the encoder's patch features (ViTPose's simple decoder).

The released SMPLest-X encoder starts from ViTPose, whose patch features were trained on dense 2D key-point heat
maps before any SMPL-X regression. A network trained from scratch (``synthetic-tiny``) has no such start: the only
signal its encoder gets is the decoder's global regression, and a small ViT then settles on one answer for every
crop. This head gives the encoder the same dense signal during SMPLest-X training (``train.aux_heatmap_weight``).
It is never part of the shipped network: inference and the weights file are the SMPLest-X architecture unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..body.joint_sets import SMPLX_137

#: The supervised key points: the 25 body joints of the 137 set (feet and face points included).
AUX_JOINTS = range(SMPLX_137.parts["body"].start, SMPLX_137.parts["body"].stop)


class AuxHeatmapHead(nn.Module):
    """Patch features (B, D, h, w) -> heat maps (B, J, 4h, 4w): two 4x4 stride-2 deconvolutions and a 1x1 conv."""

    def __init__(self, feat_dim: int, channels: int = 64, joints: int = len(AUX_JOINTS)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = feat_dim
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(c_in, channels, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
            c_in = channels
        layers.append(nn.Conv2d(channels, joints, kernel_size=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, img_feat: Tensor) -> Tensor:
        """Heat maps, float32 whatever the autocast dtype (the loss compares small values)."""
        return self.layers(img_feat).float()


def soft_argmax(heatmaps: Tensor, hm_shape: tuple[int, int]) -> Tensor:
    """Expected (x, y) (B, J, 2) of softmax-normalised heat maps, in cells of the (hm_shape) training grid.

    Integral regression, as SMPLer-X's PositionNet reads its heat maps: every cell gets a gradient from the first
    step, where Gaussian targets under an MSE loss teach a network from scratch to output zeros for a long time.
    A heat-map cell's centre maps to the training grid as the sample builder places joints (cell i covers
    [i, i + 1) of the finer grid scaled down).
    """
    b, j, h, w = heatmaps.shape
    hh, hw = hm_shape
    p = heatmaps.reshape(b, j, h * w).softmax(dim=-1).reshape(b, j, h, w)
    xs = (torch.arange(w, device=p.device, dtype=p.dtype) + 0.5) * (hw / w) - 0.5
    ys = (torch.arange(h, device=p.device, dtype=p.dtype) + 0.5) * (hh / h) - 0.5
    return torch.stack(((p.sum(dim=2) * xs).sum(dim=-1), (p.sum(dim=3) * ys).sum(dim=-1)), dim=-1)


def aux_heatmap_loss(heatmaps: Tensor, joint_img: Tensor, joint_trunc: Tensor, hm_shape: tuple[int, int]) -> Tensor:
    """L1 (B, J, 2) in training-grid cells between the heat maps' soft-argmax and the true joints; 0 outside the crop."""
    joints = list(AUX_JOINTS)
    xy = soft_argmax(heatmaps.float(), hm_shape)
    valid = joint_trunc[:, joints].reshape(heatmaps.shape[0], len(joints), 1).float()
    return (xy - joint_img[:, joints, :2].float()).abs() * valid


__all__ = ["AUX_JOINTS", "AuxHeatmapHead", "aux_heatmap_loss", "soft_argmax"]
