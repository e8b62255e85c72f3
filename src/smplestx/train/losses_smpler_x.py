"""SMPLer-X training losses: the 11 per-element L1 terms of the reference, keyed as it names them.

The common L1 form and the two modes are shared with the SMPLest-X losses (``losses._l1``, ``losses.MODES``).
What is SMPLer-X's own: axis-angle pose supervision, box terms, and the hand targets re-expressed in the predicted
hand crops. ``mode="reference"`` reproduces the reference's dict (quirks 23-30 in
shared/parity/smpler_x_tiny/README.md); ``mode="corrected"`` fixes the batch coupling, the float64 promotion and
the supervision of 2D-only samples against dummy zeros (docs/losses.md lists every difference). In both modes the
inputs are never modified; the re-expressed targets are returned by :func:`remap_hand_targets` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

import torch
from torch import Tensor

from ..body.joint_sets import SMPLX_137, SMPLX_ORIG_53
from ..models.smpler_x import SMPLerXConfig
from ..models.smpler_x import SMPLerXTrainOutput
from .losses import MODES, Mode, _l1

#: Heat-map joints (body, left hand, right hand): the first 65 of the 137.
POS_JOINTS = SMPLX_137.parts["rhand"].stop
PARTS = ("lhand", "rhand", "face")
NUM_ROT = SMPLX_ORIG_53.num_joints  # 53 rotations: root, 21 body, 15 + 15 hands, jaw
#: Every term's key in the reference's order (reference mode leaves out a box term when no sample has that box).
TERMS = ("smplx_pose", "smplx_shape", "smplx_expr", "joint_cam", "smplx_joint_cam", "lhand_bbox", "rhand_bbox",
         "face_bbox", "joint_proj", "joint_img", "smplx_joint_img")


@dataclass(frozen=True)
class SMPLerXLossWeights:
    """Loss weights; defaults are the reference SMPLer-X config's (absent keys there mean 1.0)."""

    smplx_kps_3d_weight: float = 100.0  # joint_cam, smplx_joint_cam
    smplx_kps_2d_weight: float = 1.0  # joint_proj
    net_kps_2d_weight: float = 1.0  # joint_img, smplx_joint_img
    smplx_pose_weight: float = 10.0  # smplx_pose
    smplx_loss_weight: float = 1.0  # smplx_shape
    #: agora_fix_global_orient_transl: supervise the root rotation too (else pose entries 3: only).
    supervise_root: bool = True


def _to_crop(x: Tensor, y: Tensor, box: Tensor, cfg: SMPLerXConfig) -> tuple[Tensor, Tensor]:
    """Body heat-map cells -> cells of the hand crop ``box`` (B, 4, body-input pixels), reference operation order."""
    (hb, wb), (_, hh, wh), (_, hhh, hhw) = cfg.input_body_shape, cfg.output_hm_shape, cfg.output_hand_hm_shape
    x = (x - box[:, None, 0] / wb * wh) * (hhw / ((box[:, None, 2] - box[:, None, 0]) / wb * wh))
    y = (y - box[:, None, 1] / hb * hh) * (hhh / ((box[:, None, 3] - box[:, None, 1]) / hb * hh))
    return x, y


def remap_hand_targets(
    coords: Tensor, trunc: Tensor, boxes: Tensor, cfg: SMPLerXConfig
) -> tuple[Tensor, Tensor]:
    """Hand joints of (B, 137, 3) targets into the predicted hand crops (hand cells); outside joints truncated.

    ``boxes`` (B, 3, 4) are the predicted lhand / rhand / face boxes in body-input pixels. Returns new tensors.
    """
    coords, trunc = coords.clone(), trunc.clone()
    hand = cfg.output_hand_hm_shape
    for i, part in enumerate(("lhand", "rhand")):
        idx = SMPLX_137.parts[part]
        x, y = _to_crop(coords[:, idx, 0], coords[:, idx, 1], boxes[:, i], cfg)
        z = coords[:, idx, 2] * (hand[0] / cfg.output_hm_shape[0])
        inside = (x >= 0) * (x < hand[2]) * (y >= 0) * (y < hand[1])
        coords[:, idx] = torch.stack((x, y, z), dim=2)
        trunc[:, idx, 0] = trunc[:, idx, 0] * inside
    return coords, trunc


def _align(coord: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Shift each sample's (B, J, 2) points by their mean offset to the targets over ``mask`` (zero if none)."""
    m = mask.to(coord.dtype)[..., None]
    count = m.sum(dim=1)
    shift = ((target - coord) * m).sum(dim=1) / count.clamp(min=1)
    return coord + torch.where(count > 0, shift, torch.zeros_like(shift))[:, None]


def _pose_valid(valid: Tensor) -> Tensor:
    """Pose validity per axis-angle entry (B, 159); the training sets give it per matrix entry (B, 477)."""
    if valid.shape[-1] == 9 * NUM_ROT:  # one flag per joint either way: take it per axis-angle entry
        return valid[:, ::9].repeat_interleave(3, dim=1)
    return valid


def smpler_x_loss_terms(
    out: SMPLerXTrainOutput,
    targets: Mapping[str, Any],
    meta: Mapping[str, Any],
    cfg: SMPLerXConfig,
    weights: SMPLerXLossWeights | None = None,
    *,
    mode: Mode = "corrected",
) -> dict[str, Tensor]:
    """The unreduced loss dict; ``.mean()`` of each term, summed, is what training back-propagates.

    Reference mode: the reference's dict, dtypes included (float64 validity flags make the shape, expression,
    3D-joint and box terms float64). Corrected mode: one float dtype, per-sample hand re-expression and part
    alignment, 2D-only samples not supervised against their dummy 3D / depth targets, box keys always present.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ref = mode == "reference"
    w = weights or SMPLerXLossWeights()
    dev = out.pose.device
    if ref:
        t = {k: torch.as_tensor(v, device=dev) for k, v in targets.items()}
        m = {k: torch.as_tensor(v, device=dev) for k, v in meta.items()}
        return _terms(out, t, m, cfg, w, ref)
    ct = torch.float64 if out.pose.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=dev.type, enabled=False):
        out = SMPLerXTrainOutput(**{
            f.name: ({k: v.to(ct) for k, v in x.items()} if isinstance(x := getattr(out, f.name), dict) else x.to(ct))
            for f in fields(out)
        })
        t = {k: torch.as_tensor(v, device=dev).to(ct) for k, v in targets.items()}
        m = {k: torch.as_tensor(v, device=dev).to(ct) for k, v in meta.items()}
        return _terms(out, t, m, cfg, w, ref)


def _terms(
    out: SMPLerXTrainOutput, t: dict[str, Tensor], m: dict[str, Tensor], cfg: SMPLerXConfig, w: SMPLerXLossWeights,
    ref: bool,
) -> dict[str, Tensor]:
    """The loss dict in the reference's key order."""
    loss: dict[str, Tensor] = {}
    pose = _l1(out.pose, t["smplx_pose"], _pose_valid(m["smplx_pose_valid"]))
    loss["smplx_pose"] = (pose if w.supervise_root else pose[:, 3:]) * w.smplx_pose_weight
    loss["smplx_shape"] = _l1(out.betas, t["smplx_shape"], m["smplx_shape_valid"][:, None]) * w.smplx_loss_weight
    loss["smplx_expr"] = _l1(out.expression, t["smplx_expr"], m["smplx_expr_valid"][:, None])
    is_3d = m["is_3D"]
    loss["joint_cam"] = _l1(out.joints_rel, t["joint_cam"], m["joint_valid"] * is_3d[:, None, None]) * w.smplx_kps_3d_weight
    # 2D-only samples carry all-zero part-relative targets; the reference supervises them, corrected mode does not.
    part_valid = m["smplx_joint_valid"] if ref else m["smplx_joint_valid"] * is_3d[:, None, None]
    loss["smplx_joint_cam"] = _l1(out.joints_part_rel, t["smplx_joint_cam"], part_valid) * w.smplx_kps_3d_weight
    for part in PARTS:
        valid = m[f"{part}_bbox_valid"]
        # Reference: a term exists only when some sample has that box. Corrected: always (zero when none), so the
        # logged keys do not depend on the batch.
        if not ref or (valid != 0).any():
            v = valid[:, None]
            center = _l1(out.centers[part], t[f"{part}_bbox_center"], v)
            loss[f"{part}_bbox"] = center + _l1(out.sizes[part], t[f"{part}_bbox_size"], v)

    joint_img, trunc = t["joint_img"], m["joint_trunc"]
    smplx_joint_img, smplx_trunc = t["smplx_joint_img"], m["smplx_joint_trunc"]
    proj = out.joints_hm
    boxes = out.body_boxes.detach()
    # The predicted hand joints are always in hand-crop cells, so corrected mode always re-expresses the targets
    # there (each sample by its own crop). The reference does it only when some sample of the batch has a valid
    # hand box, for every sample, and otherwise compares hand-crop cells with body cells.
    if not ref or ((m["lhand_bbox_valid"] + m["rhand_bbox_valid"]) != 0).any():
        joint_img, trunc = remap_hand_targets(joint_img, trunc, boxes, cfg)
        smplx_joint_img, smplx_trunc = remap_hand_targets(smplx_joint_img, smplx_trunc, boxes, cfg)
        pieces = [proj[:, : SMPLX_137.parts["lhand"].start]]
        for i, part in enumerate(("lhand", "rhand")):
            idx = SMPLX_137.parts[part]
            coord = torch.stack(_to_crop(proj[:, idx, 0], proj[:, idx, 1], boxes[:, i], cfg), dim=2)
            pieces.append(_align(coord, joint_img[:, idx, :2], trunc[:, idx, 0] == 1))
        proj = torch.cat((*pieces, proj[:, SMPLX_137.parts["rhand"].stop :]), dim=1)
    if not ref or (m["face_bbox_valid"] != 0).any():
        face = SMPLX_137.parts["face"]
        aligned = _align(proj[:, face], joint_img[:, face, :2], trunc[:, face, 0] == 1)
        proj = torch.cat((proj[:, : face.start], aligned, proj[:, face.stop :]), dim=1)
    loss["joint_proj"] = _l1(proj, joint_img[:, :, :2], trunc) * w.smplx_kps_2d_weight
    depth_gate = is_3d[:, None, None].to(out.joint_img.dtype)
    img = _l1(out.joint_img, joint_img[:, :POS_JOINTS], trunc[:, :POS_JOINTS])
    # Depth of the heat-map joints is supervised only for 3D samples.
    img = torch.cat((img[:, :, :2], img[:, :, 2:] * (is_3d[:, None, None].float() if ref else depth_gate)), dim=2)
    loss["joint_img"] = img * w.net_kps_2d_weight
    img = _l1(out.joint_img, smplx_joint_img[:, :POS_JOINTS], smplx_trunc[:, :POS_JOINTS])
    if not ref:  # the same depth gate for the second 2D target set (its depth is a dummy 0 for 2D-only samples)
        img = torch.cat((img[:, :, :2], img[:, :, 2:] * depth_gate), dim=2)
    loss["smplx_joint_img"] = img * w.net_kps_2d_weight
    return loss


def smpler_x_total_loss(terms: Mapping[str, Tensor]) -> Tensor:
    """Sum of the terms' means over every element (masked entries count), as the reference's train loop."""
    return sum((v.mean() for v in terms.values()), torch.zeros((), device=next(iter(terms.values())).device))
