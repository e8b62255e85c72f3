"""Tracking and motion metrics: IDF1 and identity switches (MOT), acceleration error, MPJPE, and motion in the world."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..geometry.alignment import rigid_transform
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


def acceleration_error(pred: np.ndarray, truth: np.ndarray, frames: np.ndarray | None = None) -> float:
    """Mean norm of the difference in second differences (T, J, 3) -> same unit per frame^2.

    ``frames`` (T,): the frame numbers of the rows; only second differences over three consecutive frames
    count (a sequence with gaps), NaN when there are none.
    """
    pred = np.asarray(pred, np.float64)
    truth = np.asarray(truth, np.float64)
    if pred.shape != truth.shape or pred.shape[0] < 3:
        raise ValueError(f"need two (T >= 3, J, 3) arrays of one shape, got {pred.shape} and {truth.shape}")
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_t = truth[2:] - 2 * truth[1:-1] + truth[:-2]
    err = np.linalg.norm(acc_p - acc_t, axis=-1)
    if frames is not None:
        step = np.diff(np.asarray(frames, np.int64))
        if len(step) != len(pred) - 1:
            raise ValueError(f"frames has {len(step) + 1} entries for {len(pred)} rows")
        err = err[(step[1:] == 1) & (step[:-1] == 1)]
        if not len(err):
            return float("nan")
    return float(err.mean())


def mpjpe(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean per-joint position error (no alignment) of (..., J, 3) arrays."""
    return float(np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(truth, np.float64), axis=-1).mean())


# ---------------------------------------------------------------------------------------------------------------
# Motion in the world (WHAM, Shin et al. 2024; GVHMR, Shen et al. 2024; TRAM, Wang et al. 2024)
# ---------------------------------------------------------------------------------------------------------------

#: Frames per evaluation segment of the world metrics (the field scores EMDB in 100-frame segments).
WORLD_SEGMENT = 100


def _apply(s: float, rot: np.ndarray, t: np.ndarray, x: np.ndarray) -> np.ndarray:
    return s * np.asarray(x, np.float64) @ rot.T + t


def _segments(n: int, length: int) -> list[slice]:
    """[0, n) cut into segments of ``length`` frames; a short last piece joins the one before it."""
    cuts = list(range(0, n, length)) + [n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < length // 2:
        del cuts[-2]
    return [slice(a, b) for a, b in zip(cuts, cuts[1:])]


def _check_sequence(pred: np.ndarray, truth: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if pred.shape != truth.shape or pred.ndim != 3 or pred.shape[-1] != 3 or pred.shape[0] < least:
        raise ValueError(f"need two (T >= {least}, J, 3) arrays of one shape, got {pred.shape} and {truth.shape}")
    return pred, truth


def w_mpjpe(pred: np.ndarray, truth: np.ndarray, segment: int = WORLD_SEGMENT) -> float:
    """W-MPJPE (metres) of world joints (T, J, 3): each segment rigidly aligned on its first two frames only."""
    pred, truth = _check_sequence(pred, truth, 2)
    errs = []
    for sl in _segments(len(pred), segment):
        p, g = pred[sl], truth[sl]
        pose = rigid_transform(p[:2].reshape(-1, 3), g[:2].reshape(-1, 3), scale=False)
        errs.append(np.linalg.norm(_apply(*pose, p) - g, axis=-1).reshape(-1))
    return float(np.concatenate(errs).mean())


def wa_mpjpe(pred: np.ndarray, truth: np.ndarray, segment: int = WORLD_SEGMENT) -> float:
    """WA-MPJPE (metres) of world joints (T, J, 3): each segment aligned as a whole (similarity, scale included)."""
    pred, truth = _check_sequence(pred, truth, 1)
    errs = []
    for sl in _segments(len(pred), segment):
        p, g = pred[sl], truth[sl]
        pose = rigid_transform(p.reshape(-1, 3), g.reshape(-1, 3))
        errs.append(np.linalg.norm(_apply(*pose, p) - g, axis=-1).reshape(-1))
    return float(np.concatenate(errs).mean())


def rte(pred_root: np.ndarray, truth_root: np.ndarray) -> float:
    """Root translation error (%): mean distance after a rigid fit of the whole path, over the true path's length."""
    p, g = np.asarray(pred_root, np.float64), np.asarray(truth_root, np.float64)
    if p.shape != g.shape or p.ndim != 2 or p.shape[1] != 3 or len(p) < 2:
        raise ValueError(f"need two (T >= 2, 3) root paths of one shape, got {p.shape} and {g.shape}")
    length = float(np.linalg.norm(np.diff(g, axis=0), axis=1).sum())
    if length <= 0:
        raise ValueError("the true root never moves: RTE (a share of the distance travelled) is undefined")
    return 100.0 * float(np.linalg.norm(_apply(*rigid_transform(p, g, scale=False), p) - g, axis=1).mean()) / length


def jitter(joints: np.ndarray, fps: float) -> float:
    """Jitter (m/s^3): the mean norm of the joints' third derivative (T >= 4, J, 3); the papers print it in 10 m/s^3."""
    x = np.asarray(joints, np.float64)
    if x.ndim != 3 or x.shape[0] < 4 or x.shape[-1] != 3 or not fps > 0:
        raise ValueError(f"need (T >= 4, J, 3) joints and fps > 0, got {x.shape} and {fps}")
    jerk = x[3:] - 3 * x[2:-1] + 3 * x[1:-2] - x[:-3]
    return float(np.linalg.norm(jerk, axis=-1).mean() * fps**3)


def camera_rotation_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean angle (degrees) between each frame's estimated and true camera rotation relative to the first frame."""
    p, g = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if p.shape != g.shape or p.ndim != 3 or p.shape[1:] != (3, 3):
        raise ValueError(f"need two (F, 3, 3) rotation arrays of one shape, got {p.shape} and {g.shape}")
    rel_p = np.swapaxes(p[:1], 1, 2) @ p
    rel_g = np.swapaxes(g[:1], 1, 2) @ g
    cos = (np.trace(np.swapaxes(rel_p, 1, 2) @ rel_g, axis1=1, axis2=2) - 1.0) / 2.0
    return float(np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0))).mean())


def ate(pred_centres: np.ndarray, truth_centres: np.ndarray, scale: bool = True) -> float:
    """Absolute trajectory error (metres): RMS distance of camera centres (F, 3) after a similarity fit (rigid if not
    ``scale``)."""
    p, g = np.asarray(pred_centres, np.float64), np.asarray(truth_centres, np.float64)
    if p.shape != g.shape or p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"need two (F, 3) camera paths of one shape, got {p.shape} and {g.shape}")
    if len(p) < 2 or np.allclose(g, g[:1]) or np.allclose(p, p[:1]):  # a standing camera: only a shift to fit
        return float(np.sqrt((np.linalg.norm((p - p.mean(0)) - (g - g.mean(0)), axis=1) ** 2).mean())) if len(p) else 0.0
    return float(np.sqrt((np.linalg.norm(_apply(*rigid_transform(p, g, scale=scale), p) - g, axis=1) ** 2).mean()))
