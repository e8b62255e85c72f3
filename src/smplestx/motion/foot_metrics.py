"""Foot metrics of captured motion against the truth: sliding, ground penetration, contact F1.

Foot points are the four of :mod:`.contacts` (left heel, left toes, right heel, right toes), (T, 4, 3)
metres; ``frames`` (T,) lets a sequence with gaps count only consecutive frames as motion.
"""

from __future__ import annotations

import numpy as np

from .contacts import heights


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
