"""RoIAlign (average pooling, ``aligned=False``) in plain torch, numerically the kernel of mmcv and torchvision."""

from __future__ import annotations

import torch


def _axis_weights(start: torch.Tensor, length: torch.Tensor, bins: int, size: int) -> torch.Tensor:
    """Averaged bilinear weights (R, bins, size) of each output bin over one image axis.

    Each bin takes ceil(length / bins) evenly spaced samples; a sample beyond -1 or ``size`` adds 0 but
    still counts in the average, and coordinates are clamped into the map otherwise (the kernel's rules).
    """
    r = start.shape[0]
    bin_len = length / bins
    grid = torch.ceil(length / bins).clamp(min=1).to(torch.long)  # samples per bin, per RoI
    g_max = int(grid.max()) if r else 1
    k = torch.arange(g_max, device=start.device, dtype=start.dtype)
    p = torch.arange(bins, device=start.device, dtype=start.dtype)
    g = grid.to(start.dtype)[:, None, None]
    pos = start[:, None, None] + p[None, :, None] * bin_len[:, None, None] + (k[None, None, :] + 0.5) * bin_len[:, None, None] / g
    used = (k[None, None, :] < g) & (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0)
    low = pos.floor().to(torch.long)
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    pos = torch.where(at_edge, low.to(pos.dtype), pos)
    frac = pos - low.to(pos.dtype)
    scale = used.to(pos.dtype) / g
    weights = torch.zeros(r, bins, size, dtype=start.dtype, device=start.device)
    weights.scatter_add_(2, low.reshape(r, bins, -1), ((1 - frac) * scale).reshape(r, bins, -1))
    weights.scatter_add_(2, high.reshape(r, bins, -1), (frac * scale).reshape(r, bins, -1))
    return weights


def roi_align(
    feat: torch.Tensor, rois: torch.Tensor, output_size: tuple[int, int], spatial_scale: float = 1.0
) -> torch.Tensor:
    """Average RoIAlign of ``feat`` (N, C, H, W) over ``rois`` (R, 5) = (batch index, x1, y1, x2, y2).

    Semantics of ``torchvision.ops.roi_align(..., sampling_ratio=0, aligned=False)`` and mmcv's kernel:
    no half-pixel offset, RoI sides clamped to >= 1 cell, ceil(side / bins) samples per bin and axis.
    Bilinear sampling is separable, so each RoI is two small weight matrices applied to its feature map.
    """
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (R, 5) = (batch index, x1, y1, x2, y2), got {tuple(rois.shape)}")
    ph, pw = output_size
    h, w = feat.shape[2:]
    # Sample positions in at least float32: a bfloat16 RoI would move the samples by whole cells.
    rois = rois.to(torch.promote_types(feat.dtype, torch.float32))
    x1, y1 = rois[:, 1] * spatial_scale, rois[:, 2] * spatial_scale
    roi_w = (rois[:, 3] * spatial_scale - x1).clamp(min=1.0)
    roi_h = (rois[:, 4] * spatial_scale - y1).clamp(min=1.0)
    wy = _axis_weights(y1, roi_h, ph, h)
    wx = _axis_weights(x1, roi_w, pw, w)
    maps = feat[rois[:, 0].to(torch.long)]
    return torch.einsum("rph,rchw,rqw->rcpq", wy.to(feat.dtype), maps, wx.to(feat.dtype))
