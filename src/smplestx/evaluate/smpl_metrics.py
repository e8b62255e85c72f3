"""Metrics of SMPL-X predictions against SMPL ground-truth meshes (3DPW), in millimetres.

The reference's ``HumanDataset.evaluate`` takes this branch when the GT mesh has 6890 vertices: the predicted
SMPL-X mesh is root-aligned, mapped to SMPL topology with the ``smplx2smpl.pkl`` matrix, and compared with the
SMPL mesh (MPVPE / PA-MPVPE over all 6890 vertices) and with 14 SMPL joints (MPJPE / PA-MPJPE).

* ``mode="reference"``: the reference's numbers: its float32 regressor values and the mapping matrix in the
  dtype it is stored in, computed in float64 (within ~1e-5 relative of the reference's float32 arithmetic;
  see :mod:`smplestx.evaluate.reference_quirks`).
* ``mode="corrected"`` (default): float64, and the root alignment done after the mapping with the SMPL root
  joint on both meshes (the reference puts the SMPL-X pelvis of the prediction onto the SMPL root of the GT,
  two different joint definitions, so a perfect prediction scores their offset). See ``docs/evaluation.md``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smplestx.body.model_files import BodyModelFileError, load_smplx_arrays, read_array_pickle
from smplestx.body.smpl import SMPL_NUM_JOINTS, SMPLX2SMPL_FILE, load_smpl_arrays

from .metrics import MODES, _as_batch, _err_mm, _F64, _readonly, rigid_align
from .reference_quirks import as_reference_float32

__all__ = [
    "LSP_MAPPING",
    "SMPL_METRIC_NAMES",
    "SMPLEvalAssets",
    "find_smplx2smpl",
    "smpl_mesh_metrics",
    "smpl_mesh_metrics_per_sample",
]

#: SMPL joints of the body MPJPE (the reference's ``LSP_MAPPIMG``): hips, knees, ankles, neck, head,
#: shoulders, elbows, wrists.
LSP_MAPPING: tuple[int, ...] = (1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21)
#: Keys the reference fills for SMPL ground truth (its hand / face lists stay empty for these samples).
SMPL_METRIC_NAMES: tuple[str, ...] = ("mpvpe_all", "pa_mpvpe_all", "mpjpe_body", "pa_mpjpe_body")

_ROOT = 0  # SMPL pelvis row / SMPL-X pelvis row of the J_regressors
_CHUNK = 64  # samples per vectorised step
_MAX_SPARSE_ROW = 64  # more non-zeros per matrix row than this: keep the matrix dense


# --------------------------------------------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SMPLEvalAssets:
    """The SMPL-X -> SMPL vertex map and the regressors the SMPL-GT metrics need (arrays are read-only).

    The map is kept as its non-zeros per row, sorted by column: ``map_cols`` / ``map_weights`` (6890, k), padded
    with weight 0 (repeating the row's last column), in the dtype the file stores; ``map_dense`` holds the
    matrix instead when its rows are not sparse (then ``map_cols`` / ``map_weights`` are None).
    """

    map_cols: np.ndarray | None  # (S, k) int64
    map_weights: np.ndarray | None  # (S, k) stored dtype
    map_dense: np.ndarray | None  # (S, V) stored dtype, only for dense matrices
    smpl_J_regressor: np.ndarray  # (24, S) float64, the neutral SMPL model's
    smplx_J_regressor: np.ndarray  # (J, V) float64, the neutral SMPL-X model's (row 0: pelvis)

    @property
    def map_dtype(self) -> np.dtype:
        """dtype of the stored mapping matrix (decides the reference's precision after the mapping)."""
        return (self.map_weights if self.map_dense is None else self.map_dense).dtype  # type: ignore[union-attr]

    @property
    def num_smpl_vertices(self) -> int:
        """Vertices of the SMPL mesh (6890)."""
        return int(self.smpl_J_regressor.shape[1])

    @property
    def num_smplx_vertices(self) -> int:
        """Vertices of the SMPL-X mesh (10475)."""
        return int(self.smplx_J_regressor.shape[1])

    @classmethod
    def from_matrix(
        cls, matrix: np.ndarray, smpl_J_regressor: np.ndarray, smplx_J_regressor: np.ndarray
    ) -> SMPLEvalAssets:
        """Build the assets from a dense (S, V) mapping matrix and the two J_regressors (checked for size)."""
        m = np.asarray(matrix)
        if m.ndim != 2 or not np.issubdtype(m.dtype, np.floating):
            raise ValueError(f"the SMPL-X -> SMPL matrix must be a 2-d float array, got {m.dtype} {m.shape}")
        js = np.asarray(smpl_J_regressor, dtype=np.float64)
        jx = np.asarray(smplx_J_regressor, dtype=np.float64)
        if js.ndim != 2 or js.shape[0] != SMPL_NUM_JOINTS or js.shape[1] != m.shape[0]:
            raise ValueError(f"SMPL J_regressor {js.shape} does not fit a matrix of {m.shape[0]} SMPL vertices")
        if jx.ndim != 2 or jx.shape[1] != m.shape[1]:
            raise ValueError(f"SMPL-X J_regressor {jx.shape} does not fit a matrix of {m.shape[1]} SMPL-X vertices")
        nnz = m != 0
        counts = nnz.sum(1)
        k = int(counts.max()) if counts.size else 0
        if k > _MAX_SPARSE_ROW:
            return cls(None, None, _readonly(np.array(m)), _readonly(js), _readonly(jx))
        k = max(k, 1)
        rows, cols = np.nonzero(nnz)  # row-major: columns ascending within each row
        slot = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        map_cols = np.zeros((m.shape[0], k), dtype=np.int64)
        map_w = np.zeros((m.shape[0], k), dtype=m.dtype)
        map_cols[rows, slot] = cols
        map_w[rows, slot] = m[rows, cols]
        # Padding repeats the row's last column with weight 0: an exact no-op in every summation order.
        last = map_cols[np.arange(m.shape[0]), np.maximum(counts - 1, 0)]
        pad = np.arange(k)[None, :] >= counts[:, None]
        map_cols = np.where(pad, last[:, None], map_cols)
        return cls(_readonly(map_cols), _readonly(map_w), None, _readonly(js), _readonly(jx))

    @classmethod
    def from_dir(cls, model_dir: str | Path) -> SMPLEvalAssets:
        """Load (once per folder; cached) ``smplx2smpl.pkl``, the neutral SMPL and SMPL-X J_regressors."""
        return _load_assets(str(Path(model_dir).expanduser().resolve()))

    @classmethod
    def resolve(cls, assets: str | Path | SMPLEvalAssets) -> SMPLEvalAssets:
        """Return ``assets`` itself if it already is an SMPLEvalAssets, else load it from that folder."""
        return assets if isinstance(assets, SMPLEvalAssets) else cls.from_dir(assets)


def find_smplx2smpl(model_dir: str | Path) -> Path:
    """Path of ``smplx2smpl.pkl``: in the human-model folder (where the reference reads it), ``smplx/`` or ``smpl/``."""
    p = Path(model_dir).expanduser()
    dirs = [p, p / "smplx", p / "smpl"]
    if p.name.lower() in ("smplx", "smpl"):
        dirs.append(p.parent)
    for d in dirs:
        if (d / SMPLX2SMPL_FILE).is_file():
            return d / SMPLX2SMPL_FILE
    raise BodyModelFileError(
        f"{SMPLX2SMPL_FILE} not found in {', '.join(str(d) for d in dirs)}: this SMPL-X -> SMPL vertex map comes "
        f"with the SMPLest-X human_model_files (not with the SMPL / SMPL-X downloads); it is only needed to "
        f"evaluate on SMPL ground truth (3DPW)"
    )


@functools.lru_cache(maxsize=2)
def _load_assets(model_dir: str) -> SMPLEvalAssets:
    # The evaluation file first: a missing one is the likely error and needs no model read to report.
    path = find_smplx2smpl(model_dir)
    obj = read_array_pickle(path)
    matrix = obj.get("matrix") if isinstance(obj, dict) else None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        raise BodyModelFileError(
            f"{path}: expected a dict with a 2-d array under 'matrix'; replace it with the original asset"
        )
    smpl_j = load_smpl_arrays(model_dir, "neutral")["J_regressor"]
    smplx_j = load_smplx_arrays(model_dir, "neutral")["J_regressor"]
    try:
        return SMPLEvalAssets.from_matrix(matrix, smpl_j, smplx_j)
    except ValueError as exc:
        raise BodyModelFileError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------------------------------------------
# The mapping product
# --------------------------------------------------------------------------------------------------------------


def _map64(assets: SMPLEvalAssets, X: np.ndarray) -> np.ndarray:
    """``matrix @ X`` for (B, V, 3) meshes in float64 (the matrix's float64 values)."""
    if assets.map_dense is not None:
        return assets.map_dense.astype(_F64) @ X.astype(_F64)
    w = assets.map_weights.astype(_F64)  # type: ignore[union-attr]
    return np.einsum("sk,bskc->bsc", w, X.astype(_F64)[:, assets.map_cols])


# --------------------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------------------


def _reference_chunk(P: np.ndarray, G: np.ndarray, assets: SMPLEvalAssets) -> dict[str, np.ndarray]:
    """The reference's 6890 branch for a chunk: its float32 regressor values, computed in float64."""
    P, G = P.astype(_F64), G.astype(_F64)
    jx = as_reference_float32(assets.smplx_J_regressor)
    js = as_reference_float32(assets.smpl_J_regressor)

    # Quirk: the SMPL-X pelvis of the prediction goes onto the SMPL root joint of the GT.
    pelvis = jx[_ROOT] @ P
    root_gt = js[_ROOT] @ G
    P_smpl = _map64(assets, P - pelvis[:, None, :] + root_gt[:, None, :])
    lsp = list(LSP_MAPPING)
    j_gt = (js @ G)[:, lsp]
    j_out = (js @ P_smpl)[:, lsp]
    return {
        "mpvpe_all": _err_mm(P_smpl, G),
        "pa_mpvpe_all": _err_mm(rigid_align(P_smpl, G), G),
        "mpjpe_body": _err_mm(j_out, j_gt),
        "pa_mpjpe_body": _err_mm(rigid_align(j_out, j_gt), j_gt),
    }


def _corrected_chunk(P: np.ndarray, G: np.ndarray, assets: SMPLEvalAssets) -> dict[str, np.ndarray]:
    """Float64, root alignment in SMPL topology with the SMPL root joint on both meshes."""
    P, G = P.astype(_F64), G.astype(_F64)
    js = assets.smpl_J_regressor
    P_smpl = _map64(assets, P)
    j_out, j_gt = js @ P_smpl, js @ G
    shift = (j_gt[:, _ROOT] - j_out[:, _ROOT])[:, None, :]
    P_root = P_smpl + shift
    lsp = list(LSP_MAPPING)
    j_out_lsp, j_gt_lsp = j_out[:, lsp] + shift, j_gt[:, lsp]
    return {
        "mpvpe_all": _err_mm(P_root, G),
        "pa_mpvpe_all": _err_mm(rigid_align(P_smpl, G), G),
        "mpjpe_body": _err_mm(j_out_lsp, j_gt_lsp),
        "pa_mpjpe_body": _err_mm(rigid_align(j_out_lsp, j_gt_lsp), j_gt_lsp),
    }


def smpl_mesh_metrics_per_sample(
    pred_smplx_vertices: np.ndarray,
    gt_smpl_vertices: np.ndarray,
    *,
    assets: SMPLEvalAssets | str | Path,
    mode: str = "corrected",
) -> dict[str, np.ndarray]:
    """The four metrics per sample as (B,) float64 arrays in mm (SMPL-X predictions vs SMPL GT, metres)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    a = SMPLEvalAssets.resolve(assets)
    P = _as_batch(pred_smplx_vertices, "pred_smplx_vertices")
    G = _as_batch(gt_smpl_vertices, "gt_smpl_vertices")
    if P.shape[0] != G.shape[0]:
        raise ValueError(f"{P.shape[0]} predictions but {G.shape[0]} ground-truth meshes")
    if P.shape[1] != a.num_smplx_vertices:
        raise ValueError(f"predictions have {P.shape[1]} vertices, the SMPL-X assets expect {a.num_smplx_vertices}")
    if G.shape[1] != a.num_smpl_vertices:
        raise ValueError(f"ground-truth meshes have {G.shape[1]} vertices, SMPL has {a.num_smpl_vertices}")
    step = _corrected_chunk if mode == "corrected" else _reference_chunk
    parts = [step(P[s:s + _CHUNK], G[s:s + _CHUNK], a) for s in range(0, P.shape[0], _CHUNK)]
    return {k: np.concatenate([p[k].astype(_F64) for p in parts] or [np.empty(0)]) for k in SMPL_METRIC_NAMES}


def smpl_mesh_metrics(
    pred_smplx_vertices: np.ndarray,
    gt_smpl_vertices: np.ndarray,
    *,
    assets: SMPLEvalAssets | str | Path,
    mode: str = "corrected",
) -> dict[str, list[float]]:
    """Per-metric lists in mm (``mpvpe_all``, ``pa_mpvpe_all``, ``mpjpe_body``, ``pa_mpjpe_body``), one per sample."""
    per = smpl_mesh_metrics_per_sample(pred_smplx_vertices, gt_smpl_vertices, assets=assets, mode=mode)
    return {k: [float(x) for x in v] for k, v in per.items()}
