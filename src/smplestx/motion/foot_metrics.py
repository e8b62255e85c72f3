"""Foot metrics of captured motion against the truth: sliding, ground penetration, contact F1.

Foot points are the four of :mod:`.contacts` (left heel, left toes, right heel, right toes), (T, 4, 3)
metres; ``frames`` (T,) lets a sequence with gaps count only consecutive frames as motion.
:func:`foot_scores` gathers them for one person, with MPJPE and acceleration error (the figures of
``benchmarks/bench_feet.py``).
"""

from __future__ import annotations

import numpy as np

from .contacts import foot_points, heights
from .metrics import acceleration_error, mpjpe

#: The 22 SMPL-X body joints (pelvis first) that the joint errors of :func:`foot_scores` take, with the foot points.
BODY_JOINTS = 22


def _steps(points: np.ndarray, frames: np.ndarray | None) -> np.ndarray:
    """Per-frame displacement norms (T-1, K) between consecutive frames (NaN across gaps)."""
    p = np.asarray(points, np.float64)
    d = np.linalg.norm(np.diff(p, axis=0), axis=-1)
    if frames is not None:
        gap = np.diff(np.asarray(frames)) != 1
        d[gap] = np.nan
    return d


def foot_sliding(pred: np.ndarray, truth: np.ndarray, frames: np.ndarray | None = None,
                 threshold: float = 0.01) -> float:
    """Foot sliding in mm (GVHMR's definition): the mean per-frame displacement of the predicted foot points
    over the frames where the true point moves less than ``threshold`` (1 cm) from the previous frame."""
    step_p, step_t = _steps(pred, frames), _steps(truth, frames)
    still = step_t < threshold  # NaN (gaps) compare False
    return float(step_p[still].mean() * 1000.0) if still.any() else 0.0


def ground_penetration(points: np.ndarray, floor: np.ndarray) -> tuple[float, float]:
    """How deep foot points sink below ``floor`` (n, d): (mean over all points and frames, max) in mm."""
    depth = np.maximum(-heights(points, floor), 0.0) * 1000.0
    return float(depth.mean()), float(depth.max(initial=0.0))


def contact_f1(pred: np.ndarray, truth: np.ndarray) -> float:
    """F1 score of predicted contacts (T, 4) bool against the true ones (1.0 when neither has any)."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    if p.shape != t.shape:
        raise ValueError(f"contacts have shapes {p.shape} and {t.shape}")
    tp = float((p & t).sum())
    denom = float(p.sum() + t.sum())
    return 2 * tp / denom if denom else 1.0


def foot_scores(pred_joints: np.ndarray, true_joints: np.ndarray, frames: np.ndarray, floor: np.ndarray,
                pred_contacts: np.ndarray | None = None, true_contacts: np.ndarray | None = None) -> dict[str, float]:
    """One person's foot and joint scores: predicted against true output joints (T, >= 66, 3), metres, one frame.

    ``frames`` (T,): the frame numbers (gaps break motion); ``floor``: the true floor (n, d) in that frame.
    Keys (mm): ``slide`` (:func:`foot_sliding`), ``pen`` and ``pen_max`` (:func:`ground_penetration`), ``f1``
    (:func:`contact_f1`, NaN without predicted contacts), ``mpjpe`` (22 body joints and 4 foot points, no
    alignment), ``mpjpe_rel`` (the same, pelvis-relative), ``accel`` (of the unaligned points, mm/frame^2,
    consecutive frames only; NaN under 3 frames).
    """
    pj, tj = np.asarray(pred_joints, np.float64), np.asarray(true_joints, np.float64)
    if pj.shape != tj.shape or len(pj) != len(frames):
        raise ValueError(f"joints of shapes {pj.shape} and {tj.shape} for {len(frames)} frames")
    f_pred, f_true = foot_points(pj), foot_points(tj)
    pen, pen_max = ground_penetration(f_pred, floor)
    f1 = float("nan")
    if pred_contacts is not None:
        if true_contacts is None:
            raise ValueError("predicted contacts need true ones to be scored against")
        f1 = contact_f1(pred_contacts, true_contacts)
    a = np.concatenate([pj[:, :BODY_JOINTS], f_pred], axis=1) * 1000.0
    b = np.concatenate([tj[:, :BODY_JOINTS], f_true], axis=1) * 1000.0
    return {
        "slide": foot_sliding(f_pred, f_true, frames), "pen": pen, "pen_max": pen_max, "f1": f1,
        "mpjpe": mpjpe(a, b), "mpjpe_rel": mpjpe(a - a[:, :1], b - b[:, :1]),
        "accel": acceleration_error(a, b, frames) if len(a) >= 3 else float("nan"),
    }


def pool_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the mean of several people's :func:`foot_scores` over those where it is not NaN (NaN if none is)."""
    keys = scores[0].keys() if scores else ()
    out = {}
    for k in keys:
        v = np.array([s[k] for s in scores], np.float64)
        out[k] = float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")
    return out
