"""Accuracy from pixels on held-out synthetic people: the measuring stick of the ``synthetic-tiny`` model.

Each person of a synthetic HumanData split is cropped from its image around its true box, moved and scaled
a little (seeded jitter, as a detector's box would be), and run through the model. The prediction is compared
with the exact truth: root-relative and Procrustes-aligned errors of the 22 SMPL-X body joints, the 2D body
joints in the image, the pelvis depth with the true focal length, and the hands and face.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..body import SMPLX_PARAM_NAMES
from ..data import HumanData
from ..geometry.crops import crop_image, process_box
from ..geometry.cameras import crop_camera, project_points
from ..io.images import read_image
from ..models.smplest_x import SMPLestX
from ..synthetic.dataset import BOX_PAD
from .metrics import rigid_align

log = logging.getLogger(__name__)

#: The 22 body joints, the hands (wrist + 15) and the 68 face landmarks, in the layer's 144 joints.
BODY = np.arange(22)
LHAND, RHAND = np.array([20, *range(25, 40)]), np.array([21, *range(40, 55)])
FACE, HEAD = np.arange(76, 144), 15


@dataclass(frozen=True)
class HeldOutScores:
    """Mean scores over the people evaluated (millimetres, percent)."""

    people: int
    mpjpe_mm: float  # 22 body joints, pelvis-relative
    pa_mpjpe_mm: float  # 22 body joints after a similarity alignment
    pck2d_pct: float  # body joints within 10 % of the true box height in the image
    depth_ok_pct: float  # people whose pelvis depth is within 10 % (true focal length)
    depth_err_pct: float  # median relative pelvis depth error
    hand_mpjpe_mm: float  # 2 x 16 hand joints, wrist-relative
    hand_pa_mpjpe_mm: float
    face_mpjpe_mm: float  # 68 landmarks, head-joint-relative

    def as_dict(self) -> dict[str, float]:
        """Plain numbers, rounded for tables and metadata."""
        return {k: (v if isinstance(v, int) else round(float(v), 2)) for k, v in vars(self).items()}


def _jittered_box(box_xywh: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """The tight box inside a padded HumanData box, its centre moved and its size scaled by ~``jitter``."""
    x, y, w, h = (float(v) for v in box_xywh[:4])
    cx, cy, w, h = x + w / 2, y + h / 2, w / BOX_PAD, h / BOX_PAD
    cx, cy = cx + rng.normal(0.0, jitter) * w, cy + rng.normal(0.0, jitter) * h
    s = float(np.exp(rng.normal(0.0, jitter)))
    return np.array([cx - w * s / 2, cy - h * s / 2, w * s, h * s])


def _rel(joints: np.ndarray, ids: np.ndarray, origin: int) -> np.ndarray:
    return joints[:, ids] - joints[:, origin : origin + 1]


def evaluate_heldout(
    model: SMPLestX, annotation: str | Path, image_root: str | Path, *, max_people: int | None = None,
    jitter: float = 0.05, seed: int = 0, batch_size: int = 16,
) -> HeldOutScores:
    """Score ``model`` on the people of a synthetic HumanData file (boxes from the truth with ``jitter``)."""
    hd = HumanData.open(annotation)
    n = len(hd) if max_people is None else min(len(hd), max_people)
    if n == 0:
        raise ValueError(f"{annotation}: no people to evaluate")
    cfg = model.config
    rng = np.random.default_rng(seed)
    kp3d = hd.keypoints("keypoints3d_smplx")[:n, :, :3].astype(np.float64)
    kp2d = hd.keypoints("keypoints2d_smplx")[:n, :, :2].astype(np.float64)
    boxes, paths = hd["bbox_xywh"][:n], hd["image_path"][:n]
    true_focal = np.asarray(hd.meta["focal_length"], np.float64)[:n]
    crops, cams, heights = [], [], []
    cache: dict[str, np.ndarray] = {}
    for i in range(n):
        key = str(paths[i])
        if key not in cache:
            cache = {key: read_image(Path(image_root) / key)}
        img = cache[key]
        tight = _jittered_box(boxes[i], rng, jitter)
        box = process_box(tight, img.shape[1], img.shape[0], cfg.bbox_ratio, cfg.input_img_shape)
        if box is None:
            raise ValueError(f"{annotation}: person {i} has no box inside its image")
        crops.append(crop_image(img, box, cfg.input_img_shape).patch)
        cams.append(crop_camera(box, cfg.focal, cfg.princpt, cfg.input_body_shape))
        heights.append(float(boxes[i][3]) / BOX_PAD)
    param = next(model.net.parameters())
    joints = []
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            x = torch.from_numpy(np.stack(crops[s : s + batch_size])).permute(0, 3, 1, 2).float().div(255.0)
            pred = model.predict_crops(x.to(param.device))
            # The layer's 144 joints (the hands and face landmarks too), in the crop camera.
            p = {k: getattr(pred, k).to(model.body.dtype) for k in SMPLX_PARAM_NAMES}
            joints.append(model.body(**p).joints.double().cpu().numpy())
    pred3d = np.concatenate(joints)
    body_p, body_t = _rel(pred3d, BODY, 0), _rel(kp3d, BODY, 0)
    mpjpe = np.linalg.norm(body_p - body_t, axis=-1).mean(axis=1)
    pa = np.linalg.norm(rigid_align(body_p, body_t) - body_t, axis=-1).mean(axis=1)
    pck, depth_err = [], []
    for i, (focal, princpt) in enumerate(cams):
        uv = project_points(pred3d[i, BODY], focal, princpt)
        pck.append((np.linalg.norm(uv - kp2d[i, BODY], axis=-1) <= 0.1 * heights[i]).mean())
        # Same image size under the true focal length: depth scales with it.
        z = pred3d[i, 0, 2] * true_focal[i, 1] / focal[1]
        depth_err.append(abs(z - kp3d[i, 0, 2]) / kp3d[i, 0, 2])
    hands_p = np.concatenate([_rel(pred3d, LHAND, 20), _rel(pred3d, RHAND, 21)], axis=1)
    hands_t = np.concatenate([_rel(kp3d, LHAND, 20), _rel(kp3d, RHAND, 21)], axis=1)
    hand_pa = np.concatenate([rigid_align(_rel(pred3d, ids, w), _rel(kp3d, ids, w)) - _rel(kp3d, ids, w)
                              for ids, w in ((LHAND, 20), (RHAND, 21))], axis=1)
    face = np.linalg.norm(_rel(pred3d, FACE, HEAD) - _rel(kp3d, FACE, HEAD), axis=-1).mean(axis=1)
    depth_err = np.array(depth_err)
    return HeldOutScores(
        people=n,
        mpjpe_mm=float(mpjpe.mean() * 1000),
        pa_mpjpe_mm=float(pa.mean() * 1000),
        pck2d_pct=float(np.mean(pck) * 100),
        depth_ok_pct=float((depth_err <= 0.1).mean() * 100),
        depth_err_pct=float(np.median(depth_err) * 100),
        hand_mpjpe_mm=float(np.linalg.norm(hands_p - hands_t, axis=-1).mean() * 1000),
        hand_pa_mpjpe_mm=float(np.linalg.norm(hand_pa, axis=-1).mean() * 1000),
        face_mpjpe_mm=float(face.mean() * 1000),
    )


__all__ = ["HeldOutScores", "evaluate_heldout"]
