"""Boxes, crops and their affine maps; the released crop geometry is their default."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch


#: The released crop geometry (both families): network input crop (H, W), the body input it is resized to
#: (H, W; the crop camera lives on it), the crop camera's focal and principal point there, the box growth.
INPUT_IMG_SHAPE: tuple[int, int] = (512, 384)
INPUT_BODY_SHAPE: tuple[int, int] = (256, 192)
FOCAL: tuple[float, float] = (5000.0, 5000.0)
PRINCPT: tuple[float, float] = (96.0, 128.0)
BBOX_RATIO = 1.2
#: HumanData boxes already carry a 1.2x padding; the reference multiplies its ratio by this factor for them.
BODY_BOX_RATIO_FACTOR = 0.833



def sanitize_box(box_xywh: np.ndarray, img_width: int, img_height: int) -> np.ndarray | None:
    """Reference "sanitize": move a box that starts left/above the image to 0, clip its far edge.

    The box keeps its size when moved (it is shifted, not cut), width and height use
    the ``w - 1`` convention, and a box with no area gives None.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(img_width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(img_height - 1.0, y1 + max(0.0, h - 1.0))
    if w * h > 0 and x2 > x1 and y2 > y1:
        return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)
    return None


def process_box(
    box_xywh: np.ndarray, img_width: int, img_height: int, ratio: float = BBOX_RATIO, crop_shape: tuple[int, int] = INPUT_IMG_SHAPE
) -> np.ndarray | None:
    """Sanitize, grow to the crop aspect ratio around the centre, scale by ``ratio``; float32 (x, y, w, h)."""
    box = sanitize_box(box_xywh, img_width, img_height)
    if box is None:
        return None
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    aspect = crop_shape[1] / crop_shape[0]
    if w > aspect * h:
        h = w / aspect
    elif w < aspect * h:
        w = h * aspect
    w, h = w * ratio, h * ratio
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float32)


def _rotate(v: np.ndarray, rad: float) -> np.ndarray:
    # The reference rotates float32 points (rounded before the rotation): same rounding, same crops.
    v = np.asarray(v, dtype=np.float32)
    s, c = np.sin(rad), np.cos(rad)
    return np.array([v[0] * c - v[1] * s, v[0] * s + v[1] * c], dtype=np.float32)


def box_to_crop_affine(
    center: tuple[float, float],
    size: tuple[float, float],
    out_shape: tuple[int, int] = INPUT_IMG_SHAPE,
    scale: float = 1.0,
    rot_deg: float = 0.0,
    inverse: bool = False,
) -> np.ndarray:
    """2x3 float32 affine from the (rotated, scaled) box to the crop, or back with ``inverse``."""
    src_w, src_h = size[0] * scale, size[1] * scale
    rad = np.pi * rot_deg / 180.0
    c = np.array(center, dtype=np.float32)
    src = np.stack([c, c + _rotate(np.array([0, src_h * 0.5]), rad), c + _rotate(np.array([src_w * 0.5, 0]), rad)])
    dh, dw = out_shape
    dc = np.array([dw * 0.5, dh * 0.5], dtype=np.float32)
    dst = np.stack([dc, dc + np.array([0, dh * 0.5], np.float32), dc + np.array([dw * 0.5, 0], np.float32)])
    src, dst = src.astype(np.float32), dst.astype(np.float32)
    trans = cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)
    return trans.astype(np.float32)


@dataclass
class Crop:
    """A person crop and the affine maps between it and the image."""

    patch: np.ndarray  # (H, W, C) float32, 0..255
    trans: np.ndarray  # (2, 3) image -> crop
    inv_trans: np.ndarray  # (2, 3) crop -> image


def crop_image(
    image: np.ndarray,
    box_xywh: np.ndarray,
    out_shape: tuple[int, int] = INPUT_IMG_SHAPE,
    scale: float = 1.0,
    rot_deg: float = 0.0,
    flip: bool = False,
) -> Crop:
    """Warp the processed box out of the image (bilinear, black border); optional flip/scale/rotation."""
    height, width = image.shape[:2]
    cx, cy = float(box_xywh[0] + 0.5 * box_xywh[2]), float(box_xywh[1] + 0.5 * box_xywh[3])
    if flip:
        image = image[:, ::-1]
        cx = width - cx - 1
    size = (float(box_xywh[2]), float(box_xywh[3]))
    trans = box_to_crop_affine((cx, cy), size, out_shape, scale, rot_deg)
    patch = cv2.warpAffine(
        np.ascontiguousarray(image), trans, (int(out_shape[1]), int(out_shape[0])), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    if patch.ndim == 2:
        patch = patch[:, :, None]
    inv = box_to_crop_affine((cx, cy), size, out_shape, scale, rot_deg, inverse=True)
    return Crop(patch.astype(np.float32), trans, inv)


@functools.lru_cache(maxsize=8)
def _pixel_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Homogeneous pixel positions (H, W, 3) of a crop, made once per shape and device (every frame reuses it)."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=dtype, device=device),
                            torch.arange(width, dtype=dtype, device=device), indexing="ij")
    return torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)


def crop_images_torch(
    image: torch.Tensor, boxes_xywh: Sequence[np.ndarray], out_shape: tuple[int, int] = INPUT_IMG_SHAPE
) -> torch.Tensor:
    """Crops (N, C, H, W) float32 0..255 of one (H, W, C) uint8 image tensor, on its device, as :func:`crop_image`.

    The same affine maps, bilinear with a black border, through ``grid_sample``: on a GPU the frame is
    uploaded once and cut there. Pixels differ from OpenCV's only by its 1/32-pixel interpolation grid
    (by at most one grey level, rarely).
    """
    height, width, channels = image.shape
    oh, ow = int(out_shape[0]), int(out_shape[1])
    if not len(boxes_xywh):
        return torch.zeros(0, channels, oh, ow, dtype=torch.float32, device=image.device)
    inverse = []
    for box in boxes_xywh:
        cx, cy = float(box[0] + 0.5 * box[2]), float(box[1] + 0.5 * box[3])
        # OpenCV inverts the forward map in float64 the same way before sampling.
        inverse.append(cv2.invertAffineTransform(box_to_crop_affine((cx, cy), (float(box[2]), float(box[3])), out_shape).astype(np.float64)))
    # float64 positions where the device has it (MPS has not; float32 is still within 1e-3 px there).
    f64 = torch.float64 if image.device.type in ("cpu", "cuda") else torch.float32
    mats = torch.as_tensor(np.stack(inverse), dtype=f64, device=image.device)  # (N, 2, 3) crop -> image
    src = torch.einsum("hwk,njk->nhwj", _pixel_grid(oh, ow, image.device, f64), mats)  # (N, oh, ow, 2) image pixels
    # grid_sample's align_corners=False grid: pixel centres at (2 i + 1) / size - 1.
    size = torch.tensor([width, height], dtype=f64, device=image.device)
    grid = ((2.0 * src + 1.0) / size - 1.0).float()
    planes = image.permute(2, 0, 1).unsqueeze(0).float().expand(len(boxes_xywh), -1, -1, -1)
    crops = torch.nn.functional.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return crops.round_() if image.dtype == torch.uint8 else crops  # OpenCV's crop of a uint8 image is uint8
