"""Heat-map read-outs of SMPLer-X: soft-argmax, feature sampling at points, part boxes from centre and size."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _expected_index(prob: torch.Tensor, dim: int) -> torch.Tensor:
    """Expected cell index along ``dim`` of the last axis of ``prob`` (already marginalised)."""
    idx = torch.arange(prob.shape[-1], dtype=prob.dtype, device=prob.device)
    return (prob * idx).sum(dim=-1, keepdim=True)


def soft_argmax_3d(logits: torch.Tensor) -> torch.Tensor:
    """(B, J, D, H, W) logits -> (B, J, 3) expected (x, y, z) cell indices after a softmax over each joint's cells.

    Integer cell indices (no +0.5 centre offset), as the reference reads them.
    """
    b, j, d, h, w = logits.shape
    prob = F.softmax(logits.reshape(b, j, d * h * w), dim=2).reshape(b, j, d, h, w)
    x = _expected_index(prob.sum(dim=(2, 3)), -1)
    y = _expected_index(prob.sum(dim=(2, 4)), -1)
    z = _expected_index(prob.sum(dim=(3, 4)), -1)
    return torch.cat((x, y, z), dim=2)


def soft_argmax_2d(logits: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) logits -> (B, J, 2) expected (x, y) cell indices."""
    b, j, h, w = logits.shape
    prob = F.softmax(logits.reshape(b, j, h * w), dim=2).reshape(b, j, h, w)
    return torch.cat((_expected_index(prob.sum(dim=2), -1), _expected_index(prob.sum(dim=3), -1)), dim=2)


def sample_joint_features(feat: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample a feature map (B, C, H, W) at points (B, J, 2) in cells -> (B, J, C); zeros outside."""
    h, w = feat.shape[2:]
    grid = torch.stack((xy[..., 0] / (w - 1) * 2 - 1, xy[..., 1] / (h - 1) * 2 - 1), dim=-1)[:, :, None]
    return F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=True)[..., 0].transpose(1, 2)


def restore_bbox(
    center: torch.Tensor,
    size: torch.Tensor,
    *,
    aspect_ratio: float,
    extension: float,
    hm_shape: tuple[int, int],
    input_shape: tuple[int, int],
) -> torch.Tensor:
    """Box centre and size (B, 2) in heat-map cells -> (B, 4) x1, y1, x2, y2 in pixels of the body input.

    The box is widened or heightened to ``aspect_ratio`` (w/h) about its centre, then scaled by
    ``extension``. ``hm_shape`` and ``input_shape`` are (H, W). The comparisons are signed, as in the
    reference: a box with both sizes negative stays inverted, and with one negative side the other wins.
    """
    (hh, hw), (ih, iw) = hm_shape, input_shape
    half = size / 2.0
    lo, hi = center - half, center + half
    # Same operation order as the reference (divide by the map size, then multiply by the input size).
    x1, x2 = lo[:, 0] / hw * iw, hi[:, 0] / hw * iw
    y1, y2 = lo[:, 1] / hh * ih, hi[:, 1] / hh * ih
    w, h = x2 - x1, y2 - y1
    cx, cy = x1 + w / 2.0, y1 + h / 2.0
    wider, taller = w > aspect_ratio * h, w < aspect_ratio * h
    h = torch.where(wider, w / aspect_ratio, h)
    w = torch.where(taller, h * aspect_ratio, w)
    w, h = w * extension, h * extension
    bx1, by1 = cx - w / 2.0, cy - h / 2.0
    return torch.stack((bx1, by1, w + bx1, h + by1), dim=1)
