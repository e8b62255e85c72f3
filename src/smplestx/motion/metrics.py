"""Tracking and motion metrics: IDF1 and identity switches (MOT), acceleration error and MPJPE."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from .tracker import iou_matrix


@dataclass
class MOTScore:
    """Identity metrics of one sequence."""

    idf1: float  # 2 IDTP / (ground-truth boxes + predicted boxes)
    id_switches: int  # CLEAR-MOT: a true person matched to a different id than last time
    num_truth: int
    num_predicted: int
    # The IDF1 matching: predicted id -> the true id it is scored as (pairs that overlap at least once).
    assignment: dict[int, int] = field(default_factory=dict)


def mot_identity_metrics(
    truth: list[tuple[np.ndarray, np.ndarray]],
    predicted: list[tuple[np.ndarray, np.ndarray]],
    iou_threshold: float = 0.5,
) -> MOTScore:
    """IDF1 (Ristani et al. 2016) and ID switches (Bernardin & Stiefelhagen 2008) per frame lists of (ids, boxes)."""
    if len(truth) != len(predicted):
        raise ValueError(f"got {len(truth)} truth frames and {len(predicted)} predicted frames")
    gt_ids = sorted({int(i) for ids, _ in truth for i in ids})
    pr_ids = sorted({int(i) for ids, _ in predicted for i in ids})
    g_index = {g: k for k, g in enumerate(gt_ids)}
    p_index = {p: k for k, p in enumerate(pr_ids)}
    overlap = np.zeros((len(gt_ids), len(pr_ids)))
    switches = 0
    last: dict[int, int] = {}
    n_gt = n_pr = 0
    for (g_ids, g_boxes), (p_ids, p_boxes) in zip(truth, predicted):
        g_ids = np.asarray(g_ids, np.int64).reshape(-1)
        p_ids = np.asarray(p_ids, np.int64).reshape(-1)
        n_gt += len(g_ids)
        n_pr += len(p_ids)
        if not len(g_ids) or not len(p_ids):
            continue
        iou = iou_matrix(g_boxes, p_boxes)
        ok = iou >= iou_threshold
        # IDF1: every (truth, prediction) pair that overlaps in this frame counts for that pair of identities.
        for a, b in zip(*np.nonzero(ok)):
            overlap[g_index[int(g_ids[a])], p_index[int(p_ids[b])]] += 1
        # CLEAR-MOT: keep last frame's correspondences where still valid, then match the rest by IoU.
        cost = np.where(ok, 1.0 - iou, 1e6)
        for a, g in enumerate(g_ids.tolist()):
            prev = last.get(g)
            if prev is None:
                continue
            b = np.flatnonzero(p_ids == prev)
            if len(b) and ok[a, b[0]]:
                cost[a, :] = 1e6
                cost[:, b[0]] = 1e6
                cost[a, b[0]] = -1.0
        rows, cols = linear_sum_assignment(cost)
        for a, b in zip(rows.tolist(), cols.tolist()):
            if cost[a, b] >= 1e6:
                continue
            g, p = int(g_ids[a]), int(p_ids[b])
            if g in last and last[g] != p:
                switches += 1
            last[g] = p
    assignment: dict[int, int] = {}
    idtp = 0.0
    if overlap.size:
        r, c = linear_sum_assignment(-overlap)
        idtp = float(overlap[r, c].sum())
        assignment = {pr_ids[b]: gt_ids[a] for a, b in zip(r.tolist(), c.tolist()) if overlap[a, b] > 0}
    idf1 = 2 * idtp / (n_gt + n_pr) if n_gt + n_pr else 1.0
    return MOTScore(idf1=idf1, id_switches=switches, num_truth=n_gt, num_predicted=n_pr, assignment=assignment)


def acceleration_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean norm of the difference in second differences (T, J, 3) -> same unit per frame^2."""
    pred = np.asarray(pred, np.float64)
    truth = np.asarray(truth, np.float64)
    if pred.shape != truth.shape or pred.shape[0] < 3:
        raise ValueError(f"need two (T >= 3, J, 3) arrays of one shape, got {pred.shape} and {truth.shape}")
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_t = truth[2:] - 2 * truth[1:-1] + truth[:-2]
    return float(np.linalg.norm(acc_p - acc_t, axis=-1).mean())


def mpjpe(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean per-joint position error (no alignment) of (..., J, 3) arrays."""
    return float(np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(truth, np.float64), axis=-1).mean())
