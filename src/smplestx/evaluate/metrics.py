"""Mesh metrics of SMPLest-X (MPVPE / MPJPE with and without Procrustes alignment), in millimetres.

Two modes (``docs/evaluation.md`` lists every difference):

* ``"corrected"`` (default): float64 throughout, hand MPJPE in one frame, no 100 mm skip, no NaN entries.
* ``"reference"``: the lists of the reference ``HumanDataset.evaluate`` (SMPL-X branch), quirks included, with
  its float32 arithmetic reproduced operation by operation (see "Reference float32 arithmetic" below).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from smplestx.body import (
    hand_regressors,
    load_face_vertex_ids,
    load_hand_vertex_ids,
    load_j14_regressor,
    load_smplx_arrays,
    resolve_model_dir,
)

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
# The reference drops a valid hand's PA-MPJPE (and, via `continue`, the rest of that sample) above this.
_REFERENCE_HAND_SKIP_MM = 100.0
_M_TO_MM = 1000.0
_CHUNK = 64  # samples per vectorised step
_BODY_KEYS = ("mpvpe_all", "pa_mpvpe_all", "mpvpe_face", "pa_mpvpe_face", "mpjpe_body", "pa_mpjpe_body")

_F32 = np.dtype(np.float32)
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


def _svd_rotation(H: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SVD of the cross-covariance; returns (U, s, Vh, mask of reflected samples) with the reflection fixed."""
    U, s, Vh = np.linalg.svd(H)
    R = np.swapaxes(Vh, -1, -2) @ np.swapaxes(U, -1, -2)
    refl = np.linalg.det(R) < 0
    if np.any(refl):
        # As the reference: negate the last singular value and the last row of V^T (the last column of V).
        s, Vh = s.copy(), Vh.copy()
        s[refl, -1] *= -1
        Vh[refl, -1, :] *= -1
    return U, s, Vh, refl


def rigid_transform(
    pred: np.ndarray, gt: np.ndarray, *, dtype: DTypeLike | None = np.float64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Umeyama similarity ``gt ≈ c * R @ pred + t`` of (N, 3) / (B, N, 3) point sets as (c, R, t)."""
    # dtype=None computes in the inputs' own floating precision (numpy promotion), as the reference does.
    A, B = np.asarray(pred), np.asarray(gt)
    if A.shape != B.shape or A.ndim not in (2, 3) or A.shape[-1] != 3:
        raise ValueError(f"pred and gt must both be (N, 3) or (B, N, 3), got {A.shape} and {B.shape}")
    work = np.dtype(dtype) if dtype is not None else np.result_type(A.dtype, B.dtype, np.float32)
    A, B = A.astype(work, copy=False), B.astype(work, copy=False)
    mu_a = A.mean(axis=-2, keepdims=True)
    mu_b = B.mean(axis=-2, keepdims=True)
    H = np.swapaxes(A - mu_a, -1, -2) @ (B - mu_b) / A.shape[-2]
    U, s, Vh, _ = _svd_rotation(H)
    R = np.swapaxes(Vh, -1, -2) @ np.swapaxes(U, -1, -2)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (1 / A.var(axis=-2).sum(axis=-1)) * s.sum(axis=-1)
    t = mu_b[..., 0, :] - ((c[..., None, None] * R) @ mu_a[..., 0, :, None])[..., 0]
    return c, R, t


def rigid_align(pred: np.ndarray, gt: np.ndarray, *, dtype: DTypeLike | None = np.float64) -> np.ndarray:
    """Return ``pred`` (N, 3) or (B, N, 3) after the Umeyama similarity that best maps it onto ``gt``."""
    c, R, t = rigid_transform(pred, gt, dtype=dtype)
    A = np.asarray(pred).astype(c.dtype, copy=False)
    return A @ np.swapaxes(c[..., None, None] * R, -1, -2) + t[..., None, :]


# --------------------------------------------------------------------------------------------------------------
# Reference float32 arithmetic
#
# The reference evaluates float32 meshes with a float32 J_regressor / J14 regressor, so its numbers carry float32
# rounding whose size (~1e-5 relative for errors of meshes metres away from the camera) depends on the order in
# which numpy's BLAS (OpenBLAS) sums. The parity fixtures were made with OpenBLAS's AVX-512 ("SkylakeX")
# kernels; the helpers below reproduce those kernels' summation orders with numpy (float32 FMA emulated as an
# exact float64 product + one float32 rounding), so reference mode gives the same float32 numbers on any
# machine. Each helper was checked bit for bit against OpenBLAS (OPENBLAS_CORETYPE=SkylakeX). numpy's own
# reductions (mean, var, sum) and LAPACK's 3x3 SVD do not depend on the BLAS kernel and are used directly.
# --------------------------------------------------------------------------------------------------------------

# OpenBLAS SkylakeX parameters: small-matrix kernels serve M*N*K <= 100^3; the blocked driver splits K into
# panels of SGEMM_DEFAULT_Q with the last two balanced to multiples of SGEMM_DEFAULT_UNROLL_M.
_SMALL_MNK = 100.0**3
_GEMM_Q = 448
_GEMM_UNROLL_M = 16
_LANES = 16


def _fma32(acc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Float32 fused multiply-add ``acc + a * b`` (a, b: float32 values held in float64, so a * b is exact)."""
    return (acc.astype(_F64) + a * b).astype(_F32)


def _k_panels(K: int) -> list[tuple[int, int]]:
    """K ranges of the blocked SGEMM driver (full panels, then the remainder split in two balanced parts)."""
    panels, start = [], 0
    while start < K:
        size = K - start
        if size >= 2 * _GEMM_Q:
            size = _GEMM_Q
        elif size > _GEMM_Q:
            size = ((size // 2 + _GEMM_UNROLL_M - 1) // _GEMM_UNROLL_M) * _GEMM_UNROLL_M
        panels.append((start, start + size))
        start += size
    return panels


def _sequential_gemm32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_k a[..., k, i] * b[..., k, j]`` (float32) accumulated by one FMA chain in k order."""
    a64, b64 = a.astype(_F64), b.astype(_F64)
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-1], b.shape[-1])
    acc = np.zeros(shape, dtype=_F32)
    for k in range(a.shape[-2]):
        acc = _fma32(acc, a64[..., k, :, None], b64[..., k, None, :])
    return acc


def _blocked_gemm32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_k a[..., k, i] * b[..., k, j]`` as the blocked SGEMM driver: an FMA chain per K panel, panels added."""
    panels = _k_panels(a.shape[-2])
    width = max(e - s for s, e in panels)
    # Zero padding at the end of a panel leaves its FMA chain unchanged.
    ap = np.zeros(a.shape[:-2] + (len(panels), width, a.shape[-1]), dtype=_F64)
    bp = np.zeros(b.shape[:-2] + (len(panels), width, b.shape[-1]), dtype=_F64)
    for p, (s, e) in enumerate(panels):
        ap[..., p, : e - s, :] = a[..., s:e, :]
        bp[..., p, : e - s, :] = b[..., s:e, :]
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (len(panels), a.shape[-1], b.shape[-1])
    acc = np.zeros(shape, dtype=_F32)
    for k in range(width):  # all panels advance together
        acc = _fma32(acc, ap[..., :, k, :, None], bp[..., :, k, None, :])
    out = acc[..., 0, :, :]
    for p in range(1, len(panels)):
        out = out + acc[..., p, :, :]
    return out


def _lane_gemm32(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``W (R, K) @ X (..., K, 3)`` as the small-matrix NN kernel: 16 k-lanes of FMA chains, then a lane reduction."""
    R, K = W.shape
    steps = -(-K // _LANES)
    Wp = np.zeros((steps * _LANES, R), dtype=_F64)
    Wp[:K] = W.T
    Xp = np.zeros(X.shape[:-2] + (steps * _LANES, X.shape[-1]), dtype=_F64)
    Xp[..., :K, :] = X
    Wp = Wp.reshape(steps, _LANES, R)
    Xp = Xp.reshape(X.shape[:-2] + (steps, _LANES, X.shape[-1]))
    acc = np.zeros(X.shape[:-2] + (_LANES, R, X.shape[-1]), dtype=_F32)
    for m in range(steps):  # lane l sums k = l, l + 16, ...; the masked tail adds zeros
        acc = _fma32(acc, Wp[m][:, :, None], Xp[..., m, :, None, :])
    v = [acc[..., lane, :, :] for lane in range(_LANES)]
    # Output columns in groups of four are reduced by a transpose-and-add tree (128-bit chunks first) ...
    chunks = [(v[4 * c] + v[4 * c + 1]) + (v[4 * c + 2] + v[4 * c + 3]) for c in range(4)]
    grouped = (chunks[0] + chunks[1]) + (chunks[2] + chunks[3])
    # ... the remaining columns by a horizontal add that halves the register (8, 4, 2, 1).
    h8 = [v[i + 8] + v[i] for i in range(8)]
    h4 = [h8[i + 4] + h8[i] for i in range(4)]
    single = (h4[0] + h4[2]) + (h4[1] + h4[3])
    n4 = R & ~3
    return np.concatenate([grouped[..., :n4, :], single[..., n4:, :]], axis=-2)


def _regress32(W: np.ndarray, X: np.ndarray, rows_in_call: int) -> np.ndarray:
    """``W @ X`` for float32 W (R, V) and meshes X (B, V, 3), summed as the reference's ``np.dot`` call."""
    # rows_in_call: how many regressor rows the reference multiplies at once (that picks the BLAS path).
    K = W.shape[1]
    if 3.0 * rows_in_call * K > _SMALL_MNK:
        return _blocked_gemm32(W.T, X)
    if K < 32:  # the small kernel's k-lane path needs K >= 32
        return _sequential_gemm32(W.T, X)
    return _lane_gemm32(W, X)


def _gemv3_32(M: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``M (..., 3, 3) @ x (..., 3)`` in float32 as the AVX-512 SGEMV kernel for 3x3 sums."""
    M64, x64 = M.astype(_F64), x.astype(_F64)[..., None, :]
    p = (M64 * x64).astype(_F32)  # rounded products, summed pairwise for the first two rows
    out = (p[..., 0] + p[..., 1]) + p[..., 2]
    # The odd last row is plain C contracted into FMAs: fma(m2 x2, fma(m0 x0, m1 * x1)).
    last = _fma32(p[..., 2, 1], M64[..., 2, 0], x64[..., 0, 0])
    out[..., 2] = _fma32(last, M64[..., 2, 2], x64[..., 0, 2])
    return out


def _rigid_align32(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Float32 Umeyama alignment of (B, N, 3) stacks, summing as the reference's numpy calls do."""
    n = A.shape[-2]
    mu_a = A.mean(axis=-2, keepdims=True)
    mu_b = B.mean(axis=-2, keepdims=True)
    A0, B0 = A - mu_a, B - mu_b
    # 3x3 cross-covariance: the small NT kernel runs one FMA chain over the points; huge N takes the blocked path.
    H = (_blocked_gemm32(A0, B0) if 9.0 * n > _SMALL_MNK else _sequential_gemm32(A0, B0)) / n
    U, s, Vh, _ = _svd_rotation(H)
    R = _sequential_gemm32(Vh, np.swapaxes(U, -1, -2))  # R[i, j] = sum_k Vh[k, i] U[j, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (1 / A.var(axis=-2).sum(axis=-1)) * s.sum(axis=-1)
    cR = c[..., None, None] * R
    t = -_gemv3_32(cR, mu_a[..., 0, :]) + mu_b[..., 0, :]
    # (cR @ A^T)^T: K = 3, one FMA chain per output.
    return _sequential_gemm32(np.swapaxes(A, -1, -2), np.swapaxes(cR, -1, -2)) + t[..., None, :]


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


class _Float64Ops:
    """Corrected mode: every product and alignment in float64."""

    def __init__(self, assets: EvalAssets) -> None:
        self.anchors = assets.J_regressor[list(_ANCHORS)]
        self.j14 = assets.j14_regressor
        self.hands = assets.hand_regressors

    def anchor_joints(self, X: np.ndarray) -> np.ndarray:
        """(B, 4, 3) pelvis / neck / wrist joints."""
        return self.anchors @ X

    def j14_joints(self, X: np.ndarray) -> np.ndarray:
        """(B, 14, 3) LSP joints."""
        return self.j14 @ X

    def align(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Umeyama-aligned A."""
        return rigid_align(A, B)


class _ReferenceOps:
    """Reference mode: the reference's dtypes (float32 J / J14 regressors, float64 hand regressors) and sums."""

    def __init__(self, assets: EvalAssets) -> None:
        # The reference takes J_regressor from the torch layer (float32) and builds the hand regressors by
        # concatenating its float32 rows with float64 one-hot rows (float64 holding float32 values).
        self.num_joints = assets.J_regressor.shape[0]
        self.anchors = assets.J_regressor[list(_ANCHORS)].astype(np.float32)
        self.j14 = assets.j14_regressor.astype(assets.j14_dtype)
        self.hands = {k: r.astype(np.float32).astype(np.float64) for k, r in assets.hand_regressors.items()}

    @staticmethod
    def _regress(W: np.ndarray, X: np.ndarray, rows_in_call: int) -> np.ndarray:
        if W.dtype == _F32 and X.dtype == _F32:
            return _regress32(W, X, rows_in_call)
        return W @ X  # float64 somewhere: numpy promotion, as the reference

    def anchor_joints(self, X: np.ndarray) -> np.ndarray:
        """(B, 4, 3) pelvis / neck / wrist joints (the reference regresses all 55 joints in one call)."""
        return self._regress(self.anchors, X, self.num_joints)

    def j14_joints(self, X: np.ndarray) -> np.ndarray:
        """(B, 14, 3) LSP joints."""
        return self._regress(self.j14, X, self.j14.shape[0])

    def align(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Umeyama-aligned A in the reference's precision."""
        if A.dtype == _F32 and B.dtype == _F32:
            return _rigid_align32(A, B)
        return rigid_align(A, B, dtype=None)


def _hand_errors(
    P: np.ndarray, G: np.ndarray, wrist_p: np.ndarray, wrist_g: np.ndarray, ids: np.ndarray, reg: np.ndarray,
    ops: _Float64Ops | _ReferenceOps, corrected: bool,
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
    ops: _Float64Ops | _ReferenceOps = _Float64Ops(assets) if corrected else _ReferenceOps(assets)
    # Chunks bound the memory of the per-vertex intermediates (the float32 emulation holds float64 copies).
    parts = [_chunk_metrics(P[s : s + _CHUNK], G[s : s + _CHUNK], lv[s : s + _CHUNK], rv[s : s + _CHUNK], assets,
                            ops, corrected) for s in range(0, num, _CHUNK)]
    values = {k: _readonly(np.concatenate([p[0][k] for p in parts] or [np.empty(0)])) for k in METRIC_NAMES}
    present = {k: _readonly(np.concatenate([p[1][k] for p in parts] or [np.empty(0, bool)])) for k in METRIC_NAMES}
    return PerSampleMetrics(values=values, present=present, mode=mode)


def _chunk_metrics(
    P: np.ndarray, G: np.ndarray, lv: np.ndarray, rv: np.ndarray, assets: EvalAssets,
    ops: _Float64Ops | _ReferenceOps, corrected: bool,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample values (NaN where absent) and presence masks of one chunk of samples."""
    num = P.shape[0]
    if corrected:
        P, G = P.astype(np.float64), G.astype(np.float64)
    # Reference mode keeps the meshes' own precision (float32 in the reference's test loop).
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
        _reference_hands(v, present, hands, lv, rv)

    values = {k: np.where(present[k], v[k].astype(np.float64), np.nan) for k in METRIC_NAMES}
    return values, {k: np.asarray(present[k], dtype=bool) for k in METRIC_NAMES}


def _reference_hands(
    v: dict[str, np.ndarray], present: dict[str, np.ndarray], hands: dict[str, dict[str, np.ndarray]],
    lv: np.ndarray, rv: np.ndarray,
) -> None:
    """Hand entries with the reference's rules (float validity weights, NaN, the 100 mm `continue`)."""
    # The reference tests validity by truthiness: any non-zero value (NaN included) counts as valid.
    l_on, r_on = lv != 0, rv != 0
    everyone = np.ones_like(l_on)
    with np.errstate(divide="ignore", invalid="ignore"):
        for m in ("mpvpe", "pa_mpvpe", "mpjpe", "pa_mpjpe"):
            left, right = hands["left"][m], hands["right"][m]
            v[f"{m}_l_hand"], v[f"{m}_r_hand"] = left, right
            # Validity-weighted mean, appended even when both weights are 0 (0/0 -> NaN).
            v[f"{m}_hand"] = (left * lv + right * rv) / (lv + rv)
    for m in ("mpvpe", "pa_mpvpe", "mpjpe"):
        present[f"{m}_l_hand"], present[f"{m}_r_hand"], present[f"{m}_hand"] = l_on, r_on, everyone
    # PA-MPJPE: a valid hand is appended below 100 mm; above it the rest of the sample is skipped (`continue`):
    # a left skip drops the right hand and the combined entry, a right skip the combined entry. Exactly 100
    # (or NaN) is neither appended nor skipped.
    pl, pr = hands["left"]["pa_mpjpe"], hands["right"]["pa_mpjpe"]
    reach_r = ~(l_on & (pl > _REFERENCE_HAND_SKIP_MM))
    skip_r = reach_r & r_on & (pr > _REFERENCE_HAND_SKIP_MM)
    present["pa_mpjpe_l_hand"] = l_on & (pl < _REFERENCE_HAND_SKIP_MM)
    present["pa_mpjpe_r_hand"] = reach_r & r_on & (pr < _REFERENCE_HAND_SKIP_MM)
    present["pa_mpjpe_hand"] = reach_r & ~skip_r


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
