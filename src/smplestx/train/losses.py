"""SMPLest-X training losses: per-element L1 terms keyed as the reference names them.

``mode="reference"`` reproduces the reference's loss dict exactly, quirks included (dtype promotion to
float64 through the collated validity flags, the (B, B, 9) broadcast of the hand-root terms);
``mode="corrected"`` fixes those (see docs/losses.md for every term and every difference).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, Mapping

import torch
from torch import Tensor, nn

from ..body.joint_sets import SMPLX_137, SMPLX_ORIG_53
from ..models.smplest_x import TrainOutput
from ..geometry.rotations import axis_angle_to_rotmat

Mode = Literal["reference", "corrected"]
MODES: tuple[str, ...] = ("reference", "corrected")

#: The keys loss_terms reads (the parity fixture's ``target_*`` / ``meta_*`` keys without the prefix).
TARGET_KEYS = (
    "joint_img", "joint_cam", "smplx_joint_cam", "smplx_pose", "smplx_shape", "smplx_expr", "lhand_root", "rhand_root"
)
META_KEYS = ("joint_trunc", "smplx_pose_valid", "smplx_shape_valid", "smplx_expr_valid", "is_3D")

#: Parents of the 22 SMPL-X body joints (pelvis first), the tree the hand-root chain is composed along.
_BODY_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
_LWRIST, _RWRIST = SMPLX_ORIG_53.index("L_Wrist"), SMPLX_ORIG_53.index("R_Wrist")
# The hand-only branch takes the hands' pose validity from their first thumb joint, as the reference does.
_LTHUMB, _RTHUMB = SMPLX_ORIG_53.index("L_Thumb_1"), SMPLX_ORIG_53.index("R_Thumb_1")
_HANDS = slice(SMPLX_137.parts["hand"].start, SMPLX_137.parts["hand"].stop)


@dataclass(frozen=True)
class LossWeights:
    """Loss weights; defaults are the reference config's ``train`` section (missing keys there mean 1.0)."""

    smplx_kps_3d_weight: float = 100.0  # joint_cam, smplx_joint_cam
    smplx_kps_2d_weight: float = 1.0  # joint_proj
    smplx_pose_weight: float = 10.0  # smplx_pose
    smplx_shape_weight: float = 1.0  # smplx_shape
    smplx_orient_weight: float = 1.0  # smplx_orient
    smplx_expr_weight: float = 1.0  # smplx_expr (the reference has no key: fixed at 1)
    smplx_hand_kps_3d_weight: float = 1.0  # hand_align, hand_pose (not in the config: the reference default)
    hand_root_weight: float = 1.0  # hand_root (and hand_root_chain in reference mode)
    hand_consist_weight: float = 1.0  # hand_root_chain in corrected mode (the reference reads it nowhere)

    @classmethod
    def from_config(cls, train: Mapping[str, Any]) -> "LossWeights":
        """Weights from an official config's ``train`` section; absent keys are 1.0, as the reference's getattr."""
        return cls(**{f.name: float(train.get(f.name, 1.0)) for f in fields(cls)})


def _chain_to(joint: int) -> list[int]:
    """Body joints from the pelvis down to ``joint``."""
    path = [joint]
    while _BODY_PARENTS[path[-1]] >= 0:
        path.append(_BODY_PARENTS[path[-1]])
    return path[::-1]


def hand_global_rotation(body_rotmat: Tensor, wrist: int) -> Tensor:
    """Global orientation (B, 3, 3) of a wrist: the product of local rotations (B, >=22, 3, 3) down the chain.

    The pelvis rotation is detached, as in the reference, so the hand-root terms never train the global orientation.
    """
    path = _chain_to(wrist)
    g = body_rotmat[:, path[0]].detach()
    for j in path[1:]:
        g = g @ body_rotmat[:, j]
    return g


def _l1(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """|pred - target| * valid, unreduced (the reference's CoordLoss and ParamLoss alike)."""
    return torch.abs(pred - target) * valid


def _inputs(
    device: torch.device, targets: Mapping[str, Any], meta: Mapping[str, Any], cast: torch.dtype | None
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Targets and meta as tensors on ``device``, cast to ``cast`` (None keeps their dtypes)."""
    missing = [f"targets[{k!r}]" for k in TARGET_KEYS if k not in targets]
    missing += [f"meta[{k!r}]" for k in META_KEYS if k not in meta]
    if missing:
        raise KeyError(f"loss inputs missing: {', '.join(missing)}")

    def conv(v: Any) -> Tensor:
        return torch.as_tensor(v, device=device, dtype=cast)

    return {k: conv(targets[k]) for k in TARGET_KEYS}, {k: conv(meta[k]) for k in META_KEYS}


def loss_terms_from_output(
    out: TrainOutput,
    targets: Mapping[str, Any],
    meta: Mapping[str, Any],
    *,
    hand_loss: bool = False,
    mode: Mode = "corrected",
    weights: LossWeights | None = None,
) -> dict[str, Tensor]:
    """Unreduced loss terms from a training forward's output (the pure part of :func:`loss_terms`)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    w = weights or LossWeights()
    ref = mode == "reference"
    # Corrected: one float dtype throughout (float32, or float64 for a float64 model). Reference: torch's own
    # promotion of the inputs as given, which makes some terms float64 when the flags come collated as float64.
    ct = None if ref else (torch.float64 if out.pose.dtype == torch.float64 else torch.float32)
    with torch.autocast(device_type=out.pose.device.type, enabled=False):
        if ct is not None:
            # img_feat stays as it is: only auxiliary heads read it.
            out = TrainOutput(**{f.name: getattr(out, f.name).to(ct) for f in fields(out) if f.name != "img_feat"},
                              img_feat=out.img_feat)
        t, m = _inputs(out.pose.device, targets, meta, ct)
        return _terms(out, t, m, hand_loss, ref, w)


def _terms(
    out: TrainOutput, t: dict[str, Tensor], m: dict[str, Tensor], hand_loss: bool, ref: bool, w: LossWeights
) -> dict[str, Tensor]:
    """The loss dict, in the reference's key order."""
    b = out.pose.shape[0]
    trunc = m["joint_trunc"]  # (B, 137, 1)
    pelvis = trunc[:, 0, :]  # (B, 1): pelvis inside the crop -> full-body branch, else hand-only branch
    is_3d = m["is_3D"][:, None, None]
    loss: dict[str, Tensor] = {}

    # Rotation-matrix L1 on all 53 joints; the root's 9 entries also as a separately weighted term.
    pred_rot = axis_angle_to_rotmat(out.pose.reshape(-1, 3)).reshape(b, -1)
    gt_rot = axis_angle_to_rotmat(t["smplx_pose"].reshape(-1, 3)).reshape(b, -1)
    pose_l1 = _l1(pred_rot, gt_rot, m["smplx_pose_valid"])
    loss["smplx_orient"] = pose_l1[:, :9] * w.smplx_orient_weight
    loss["smplx_pose"] = pose_l1 * w.smplx_pose_weight
    loss["smplx_shape"] = _l1(out.betas, t["smplx_shape"], m["smplx_shape_valid"][:, None]) * w.smplx_shape_weight
    loss["smplx_expr"] = _l1(out.expression, t["smplx_expr"], m["smplx_expr_valid"][:, None]) * w.smplx_expr_weight

    # Pelvis-relative 3D joints: only for real 3D keypoints and only when the pelvis (their origin) is in the crop.
    cam_valid = trunc * is_3d * pelvis[:, None]
    loss["joint_cam"] = _l1(out.joints_rel, t["joint_cam"], cam_valid) * w.smplx_kps_3d_weight
    if hand_loss:
        hands = _l1(out.joints_rel[:, _HANDS], t["joint_cam"][:, _HANDS], cam_valid[:, _HANDS])
        loss["hand_align"] = hands * w.smplx_hand_kps_3d_weight
    # Part-relative 3D joints. The reference also supervises 2D-only samples here, against their all-zero dummy
    # targets; corrected mode masks them with is_3D.
    rel_valid = trunc if ref else trunc * is_3d
    loss["smplx_joint_cam"] = _l1(out.joints_part_rel, t["smplx_joint_cam"], rel_valid) * w.smplx_kps_3d_weight
    if hand_loss:
        hands = _l1(out.joints_part_rel[:, _HANDS], t["smplx_joint_cam"][:, _HANDS], rel_valid[:, _HANDS])
        loss["hand_pose"] = hands * w.smplx_hand_kps_3d_weight
    loss["joint_proj"] = _l1(out.joints_hm, t["joint_img"][:, :, :2], trunc) * w.smplx_kps_2d_weight

    loss["hand_root"], loss["hand_root_chain"] = _hand_root_terms(out, t, m, pred_rot, gt_rot, pelvis, ref, w)
    return loss


def _hand_root_terms(
    out: TrainOutput,
    t: dict[str, Tensor],
    m: dict[str, Tensor],
    pred_rot: Tensor,
    gt_rot: Tensor,
    pelvis: Tensor,
    ref: bool,
    w: LossWeights,
) -> tuple[Tensor, Tensor]:
    """Global wrist orientations: hand-root head and body chain vs. the GT chain (pelvis in crop) or MANO root."""
    b = pred_rot.shape[0]
    valid = m["smplx_pose_valid"].reshape(b, -1, 9)
    # Reference: pelvis (B, 1) is indexed to (B, 1, 1), so each (B, 9) loss broadcasts to (B, B, 9) with
    # element [i, j] = loss of sample j gated by sample i's pelvis. Corrected: each sample gated by its own.
    gate = pelvis[:, None] if ref else pelvis
    pred_body, gt_body = pred_rot.reshape(b, -1, 3, 3)[:, :22], gt_rot.reshape(b, -1, 3, 3)[:, :22]
    head = {s: axis_angle_to_rotmat(getattr(out, f"{s}hand_root_pose")).reshape(b, 9) for s in "lr"}
    wrists = {"l": _LWRIST, "r": _RWRIST}
    chain = {s: hand_global_rotation(pred_body, j).reshape(b, 9) for s, j in wrists.items()}
    chain_gt = {s: hand_global_rotation(gt_body, j).reshape(b, 9) for s, j in wrists.items()}
    mano = {s: axis_angle_to_rotmat(t[f"{s}hand_root"].reshape(-1, 3)).reshape(b, 9) for s in "lr"}
    body_valid = {s: valid[:, j] for s, j in wrists.items()}
    hand_valid = {"l": valid[:, _LTHUMB], "r": valid[:, _RTHUMB]}
    if not ref:
        # An all-zero MANO root is the datasets' "no hand root" filler (full-body sets have none): never a target.
        has_root = {s: (t[f"{s}hand_root"].reshape(b, 3) != 0).any(-1, keepdim=True) for s in "lr"}
        hand_valid = {s: hand_valid[s] * has_root[s] for s in "lr"}
    chain_weight = w.hand_root_weight if ref else w.hand_consist_weight

    def both(gt: dict[str, Tensor], pred: dict[str, Tensor], v: dict[str, Tensor], g: Tensor) -> Tensor:
        return _l1(gt["l"], pred["l"], v["l"]) * g + _l1(gt["r"], pred["r"], v["r"]) * g

    root = both(chain_gt, head, body_valid, gate) * w.hand_root_weight
    root_chain = both(chain_gt, chain, body_valid, gate) * chain_weight
    root_hand = both(mano, head, hand_valid, 1 - gate) * w.hand_root_weight
    chain_hand = both(mano, chain, hand_valid, 1 - gate) * chain_weight
    # The reference adds the hand-only branch in place: computed in the promoted dtype, stored in the first's.
    return (root + root_hand).to(root.dtype), (root_chain + chain_hand).to(root_chain.dtype)


def loss_terms(
    model: nn.Module,
    images: Tensor,
    targets: Mapping[str, Any],
    meta: Mapping[str, Any],
    *,
    hand_loss: bool = False,
    mode: Mode = "corrected",
    weights: LossWeights | None = None,
) -> dict[str, Tensor]:
    """Run ``model(images, train=True)`` (an SMPLestX, possibly DDP-wrapped) and return the unreduced loss terms."""
    out = model(images, train=True)
    return loss_terms_from_output(out, targets, meta, hand_loss=hand_loss, mode=mode, weights=weights)


def total_loss(terms: Mapping[str, Tensor]) -> Tensor:
    """Sum over terms of each term's mean: what the reference's training loop back-propagates."""
    if not terms:
        raise ValueError("no loss terms")
    means = [v.mean() for v in terms.values()]
    total = means[0]
    for v in means[1:]:
        total = total + v
    return total


__all__ = [
    "LossWeights",
    "META_KEYS",
    "MODES",
    "Mode",
    "TARGET_KEYS",
    "hand_global_rotation",
    "loss_terms",
    "loss_terms_from_output",
    "total_loss",
]
