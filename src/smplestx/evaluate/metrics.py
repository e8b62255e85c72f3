"""Mesh metrics of SMPLest-X (MPVPE / MPJPE with and without Procrustes alignment), in millimetres.

Two modes (``docs/evaluation.md`` lists every difference):

* ``"corrected"`` (default): float64 throughout, hand MPJPE in one frame, no 100 mm skip, no NaN entries.
* ``"reference"``: the lists of the reference ``HumanDataset.evaluate`` (SMPL-X branch), quirks included, with
  computed in float64 from the reference's float32 inputs (within ~1e-5 relative of the reference's float32
  numbers; its quirks live in :mod:`.reference_quirks`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smplestx.geometry.alignment import rigid_align, rigid_transform

from smplestx.body import (
    hand_regressors,
    load_face_vertex_ids,
    load_hand_vertex_ids,
    load_j14_regressor,
    load_smplx_arrays,
    resolve_model_dir,
)

from .reference_quirks import reference_hands, reference_regressors

__all__ = [
    "METRIC_NAMES",
    "MODES",
    "EvalAssets",
    "PerSampleMetrics",
    "mesh_metrics",
    "mesh_metrics_per_sample",
    "rigid_align",
    "rigid_transform",
    "summarize",
]

#: Metric names, in the order of the reference's result dict.
METRIC_NAMES: tuple[str, ...] = (
    "pa_mpvpe_all", "pa_mpvpe_l_hand", "pa_mpvpe_r_hand", "pa_mpvpe_hand", "pa_mpvpe_face",
    "mpvpe_all", "mpvpe_l_hand", "mpvpe_r_hand", "mpvpe_hand", "mpvpe_face",
    "pa_mpjpe_body", "pa_mpjpe_l_hand", "pa_mpjpe_r_hand", "pa_mpjpe_hand",
    "mpjpe_body", "mpjpe_l_hand", "mpjpe_r_hand", "mpjpe_hand",
)
MODES: tuple[str, ...] = ("corrected", "reference")

# Rows of the SMPL-X J_regressor used as alignment anchors.
_PELVIS, _NECK, _LWRIST, _RWRIST = 0, 12, 20, 21
_ANCHORS = (_PELVIS, _NECK, _LWRIST, _RWRIST)
_M_TO_MM = 1000.0
_CHUNK = 64  # samples per vectorised step
_BODY_KEYS = ("mpvpe_all", "pa_mpvpe_all", "mpvpe_face", "pa_mpvpe_face", "mpjpe_body", "pa_mpjpe_body")

_F64 = np.dtype(np.float64)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalAssets:
    """Regressors and vertex ids the metrics need (float64 regressors, int64 ids; arrays are read-only)."""

    J_regressor: np.ndarray  # (55, V) of the neutral model
    j14_regressor: np.ndarray  # (14, V)
    hand_vertex_ids: dict[str, np.ndarray]  # {"left", "right"}: (778,)
    face_vertex_ids: np.ndarray  # (5023,)
    hand_regressors: dict[str, np.ndarray]  # {"left", "right"}: (21, V), MANO order, wrist first
    #: dtype SMPLX_to_J14.pkl stores; the reference computes with the regressor as stored.
    j14_dtype: str = "float64"

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices the assets are built for."""
        return int(self.J_regressor.shape[1])

    @classmethod
    def from_dir(cls, body_models: str | Path) -> EvalAssets:
        """Load (once per folder; cached) the assets from a body-model folder holding SMPLX_NEUTRAL.npz."""
        return _load_assets(str(resolve_model_dir(body_models).resolve()))

    @classmethod
    def resolve(cls, body_models: str | Path | EvalAssets) -> EvalAssets:
        """Return ``body_models`` itself if it already is an EvalAssets, else load it from that folder."""
        return body_models if isinstance(body_models, EvalAssets) else cls.from_dir(body_models)


@functools.lru_cache(maxsize=4)
def _load_assets(model_dir: str) -> EvalAssets:
    # Evaluation files first: a missing one is the likely error and needs no model read to report.
    j14_raw = load_j14_regressor(model_dir)
    hand_ids = load_hand_vertex_ids(model_dir)
    face_ids = load_face_vertex_ids(model_dir)
    J = np.asarray(load_smplx_arrays(model_dir, "neutral")["J_regressor"], dtype=np.float64)
    j14 = np.asarray(j14_raw, dtype=np.float64)
    if j14.shape[1] != J.shape[1]:
        raise ValueError(f"SMPLX_to_J14 regressor has {j14.shape[1]} vertices, the model has {J.shape[1]}")
    hands = hand_regressors(J)
    return EvalAssets(
        J_regressor=_readonly(J),
        j14_regressor=_readonly(j14),
        hand_vertex_ids={"left": _readonly(hand_ids["left_hand"]), "right": _readonly(hand_ids["right_hand"])},
        face_vertex_ids=_readonly(face_ids),
        hand_regressors={s: _readonly(np.asarray(r, dtype=np.float64)) for s, r in hands.items()},
        j14_dtype=str(j14_raw.dtype) if np.issubdtype(j14_raw.dtype, np.floating) else "float64",
    )


# --------------------------------------------------------------------------------------------------------------
# Procrustes (Umeyama) alignment
# --------------------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerSampleMetrics:
    """Per-sample metric values (B,) in mm, NaN where ``present`` is False, and the mode they were computed in."""

    values: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    mode: str

    def __len__(self) -> int:
        """Number of samples."""
        return int(self.values[METRIC_NAMES[0]].shape[0])

    def to_lists(self) -> dict[str, list[float]]:
        """Per-metric lists of the present entries, in sample order (what ``mesh_metrics`` returns)."""
        return {k: [float(x) for x in self.values[k][self.present[k]]] for k in METRIC_NAMES}

    def rows(self) -> list[dict[str, float | None]]:
        """One dict per sample (metric -> value, None where absent), e.g. for ``csv.DictWriter``."""
        return [
            {k: (float(self.values[k][i]) if self.present[k][i] else None) for k in METRIC_NAMES}
            for i in range(len(self))
        ]


def _err_mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance over points, (B, N, 3) x2 -> (B,), in mm (in the inputs' precision)."""
    dist = np.sqrt(((a - b) ** 2).sum(axis=-1))
    # Gathered (fancy-indexed) inputs give a strided layout, for which numpy sums sequentially instead of
    # pairwise; a contiguous copy keeps float32 results identical to a per-sample reduction.
    return np.ascontiguousarray(dist).mean(axis=-1) * _M_TO_MM


def _as_batch(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"{name} must be (B, V, 3) or (V, 3), got {np.shape(x)}")
    return a


class _Ops:
    """The regressors of a mode; every product and alignment in float64."""

    def __init__(self, assets: EvalAssets, corrected: bool) -> None:
        if corrected:
            self.anchors = assets.J_regressor[list(_ANCHORS)]
            self.j14 = assets.j14_regressor
            self.hands = assets.hand_regressors
        else:
            self.anchors, self.j14, self.hands = reference_regressors(
                assets.J_regressor, _ANCHORS, assets.j14_regressor, assets.j14_dtype, assets.hand_regressors)

    def anchor_joints(self, X: np.ndarray) -> np.ndarray:
        """(B, 4, 3) pelvis / neck / wrist joints."""
        return self.anchors @ X

    def j14_joints(self, X: np.ndarray) -> np.ndarray:
        """(B, 14, 3) LSP joints."""
        return self.j14 @ X

    def align(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Umeyama-aligned A."""
        return rigid_align(A, B)


def _hand_errors(
    P: np.ndarray, G: np.ndarray, wrist_p: np.ndarray, wrist_g: np.ndarray, ids: np.ndarray, reg: np.ndarray,
    ops: _Ops, corrected: bool,
) -> dict[str, np.ndarray]:
    """MPVPE / PA-MPVPE / MPJPE / PA-MPJPE of one hand for every sample (validity not applied)."""
    wp, wg = wrist_p[:, None, :], wrist_g[:, None, :]
    v_gt = G[:, ids] - wg
    v_out_abs = P[:, ids]
    v_out = v_out_abs - wp
    # Dropping row 0 (the wrist) leaves 15 regressed finger joints + 5 tip vertices.
    j_gt = (reg @ G)[:, 1:]
    j_out = (reg @ P)[:, 1:] - wp
    if corrected:
        j_gt = j_gt - wg  # both hands wrist-relative, in the same frame
        pa_v = ops.align(v_out, v_gt)
    else:
        # Reference: PA of the absolute hand onto the wrist-relative GT (PA absorbs the offset), and the
        # wrist-relative joints compared with *absolute* GT joints (the frame mismatch).
        pa_v = ops.align(v_out_abs, v_gt)
    return {
        "mpvpe": _err_mm(v_out, v_gt),
        "pa_mpvpe": _err_mm(pa_v, v_gt),
        "mpjpe": _err_mm(j_out, j_gt),
        "pa_mpjpe": _err_mm(ops.align(j_out, j_gt), j_gt),
    }


def mesh_metrics_per_sample(
    pred_vertices: np.ndarray,
    gt_vertices: np.ndarray,
    lhand_valid: np.ndarray | float,
    rhand_valid: np.ndarray | float,
    *,
    body_models: str | Path | EvalAssets,
    mode: str = "corrected",
) -> PerSampleMetrics:
    """Every metric for each sample of (B, V, 3) meshes in metres (vectorised over the batch), in mm."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    corrected = mode == "corrected"
    assets = EvalAssets.resolve(body_models)
    P = _as_batch(pred_vertices, "pred_vertices")
    G = _as_batch(gt_vertices, "gt_vertices")
    if P.shape != G.shape:
        raise ValueError(f"pred_vertices {P.shape} and gt_vertices {G.shape} differ in shape")
    num = P.shape[0]
    if P.shape[1] != assets.num_vertices:
        raise ValueError(f"meshes have {P.shape[1]} vertices, the SMPL-X assets expect {assets.num_vertices}")
    try:
        lv = np.broadcast_to(np.asarray(lhand_valid, dtype=np.float64), (num,))
        rv = np.broadcast_to(np.asarray(rhand_valid, dtype=np.float64), (num,))
    except ValueError:
        raise ValueError(
            f"lhand_valid {np.shape(lhand_valid)} / rhand_valid {np.shape(rhand_valid)} must be scalars or ({num},)"
        ) from None
    ops = _Ops(assets, corrected)
    # Chunks bound the memory of the per-vertex intermediates.
    parts = [_chunk_metrics(P[s : s + _CHUNK], G[s : s + _CHUNK], lv[s : s + _CHUNK], rv[s : s + _CHUNK], assets,
                            ops, corrected) for s in range(0, num, _CHUNK)]
    values = {k: _readonly(np.concatenate([p[0][k] for p in parts] or [np.empty(0)])) for k in METRIC_NAMES}
    present = {k: _readonly(np.concatenate([p[1][k] for p in parts] or [np.empty(0, bool)])) for k in METRIC_NAMES}
    return PerSampleMetrics(values=values, present=present, mode=mode)


def _chunk_metrics(
    P: np.ndarray, G: np.ndarray, lv: np.ndarray, rv: np.ndarray, assets: EvalAssets,
    ops: _Ops, corrected: bool,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample values (NaN where absent) and presence masks of one chunk of samples."""
    num = P.shape[0]
    # Both modes compute in float64; reference mode matches the reference's float32 numbers to ~1e-5 relative.
    P, G = P.astype(np.float64), G.astype(np.float64)
    anc_p, anc_g = ops.anchor_joints(P), ops.anchor_joints(G)  # (B, 4, 3)
    J_p = {j: anc_p[:, i, None, :] for i, j in enumerate(_ANCHORS)}
    J_g = {j: anc_g[:, i, None, :] for i, j in enumerate(_ANCHORS)}

    v: dict[str, np.ndarray] = {}
    # Whole body: pelvis-aligned and Procrustes-aligned vertex errors.
    P_root = P - J_p[_PELVIS] + J_g[_PELVIS]
    v["mpvpe_all"] = _err_mm(P_root, G)
    v["pa_mpvpe_all"] = _err_mm(ops.align(P, G), G)

    # Face (FLAME vertices): neck-aligned and Procrustes-aligned.
    fids = assets.face_vertex_ids
    f_out, f_gt = P[:, fids], G[:, fids]
    v["mpvpe_face"] = _err_mm(f_out - J_p[_NECK] + J_g[_NECK], f_gt)
    v["pa_mpvpe_face"] = _err_mm(ops.align(f_out, f_gt), f_gt)

    # Body joints (LSP-14): from the pelvis-aligned mesh, and Procrustes on the joints themselves.
    j_gt = ops.j14_joints(G)
    v["mpjpe_body"] = _err_mm(ops.j14_joints(P_root), j_gt)
    v["pa_mpjpe_body"] = _err_mm(ops.align(ops.j14_joints(P), j_gt), j_gt)

    hands = {
        side: _hand_errors(P, G, J_p[wrist][:, 0], J_g[wrist][:, 0], assets.hand_vertex_ids[side],
                           ops.hands[side], ops, corrected)
        for side, wrist in (("left", _LWRIST), ("right", _RWRIST))
    }
    present: dict[str, np.ndarray] = {k: np.ones(num, dtype=bool) for k in _BODY_KEYS}
    if corrected:
        _corrected_hands(v, present, hands, lv, rv)
    else:
        reference_hands(v, present, hands, lv, rv)

    values = {k: np.where(present[k], v[k].astype(np.float64), np.nan) for k in METRIC_NAMES}
    return values, {k: np.asarray(present[k], dtype=bool) for k in METRIC_NAMES}


def _corrected_hands(
    v: dict[str, np.ndarray], present: dict[str, np.ndarray], hands: dict[str, dict[str, np.ndarray]],
    lv: np.ndarray, rv: np.ndarray,
) -> None:
    """Hand entries: validity as a boolean (> 0), combined value = mean over valid hands, no outlier skip."""
    l_on, r_on = lv > 0, rv > 0
    any_on = l_on | r_on
    n_on = l_on.astype(np.float64) + r_on
    for m in ("mpvpe", "pa_mpvpe", "mpjpe", "pa_mpjpe"):
        left, right = hands["left"][m], hands["right"][m]
        v[f"{m}_l_hand"], v[f"{m}_r_hand"] = left, right
        # np.where keeps an invalid hand's value (possibly inf / NaN) out of the sum.
        total = np.where(l_on, left, 0.0) + np.where(r_on, right, 0.0)
        v[f"{m}_hand"] = np.divide(total, n_on, out=np.full_like(total, np.nan), where=any_on)
        present[f"{m}_l_hand"], present[f"{m}_r_hand"], present[f"{m}_hand"] = l_on, r_on, any_on


def mesh_metrics(
    pred_vertices: np.ndarray,
    gt_vertices: np.ndarray,
    lhand_valid: np.ndarray | float,
    rhand_valid: np.ndarray | float,
    *,
    body_models: str | Path | EvalAssets,
    mode: str = "corrected",
) -> dict[str, list[float]]:
    """Per-metric lists in mm of (B, V, 3) SMPL-X meshes in metres, keyed as the reference's ``evaluate``."""
    return mesh_metrics_per_sample(
        pred_vertices, gt_vertices, lhand_valid, rhand_valid, body_models=body_models, mode=mode
    ).to_lists()


def summarize(metrics: Mapping[str, Sequence[float]] | PerSampleMetrics) -> dict[str, float]:
    """Mean of every metric list (plain mean: a NaN entry propagates as in the reference; empty -> NaN)."""
    lists = metrics.to_lists() if isinstance(metrics, PerSampleMetrics) else metrics
    out: dict[str, float] = {}
    for key, vals in lists.items():
        arr = np.asarray(vals, dtype=np.float64)
        out[key] = float(arr.mean()) if arr.size else math.nan
    return out
