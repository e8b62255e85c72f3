"""SMPL-GT metrics (3DPW branch): analytic cases, the root-alignment quirk, and reference mode against an
independent plain-numpy implementation of the reference formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel, BodyModelFileError
from smplestx.body.model_files import load_smplx_arrays
from smplestx.body.smpl import load_smpl_arrays
from smplestx.evaluate.smpl_metrics import (
    LSP_MAPPING,
    SMPL_METRIC_NAMES,
    SMPLEvalAssets,
    smpl_mesh_metrics,
    smpl_mesh_metrics_per_sample,
)

CAMERA = np.array([0.15, -0.25, 4.0])  # metres: GT meshes sit in front of a camera as in 3DPW


@pytest.fixture(scope="module")
def root(synthetic_smpl_models: Path) -> Path:
    return synthetic_smpl_models


@pytest.fixture(scope="module")
def assets(root: Path) -> SMPLEvalAssets:
    return SMPLEvalAssets.from_dir(root)


@pytest.fixture(scope="module")
def posed(root: Path) -> np.ndarray:
    """Four posed SMPL-X meshes (float64, metres) in camera coordinates."""
    layer = BodyModel.from_dir(root, "neutral", face_contour=False, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        out = layer(betas=torch.randn(4, 10, generator=g, dtype=torch.float64),
                    body_pose=0.3 * torch.randn(4, 63, generator=g, dtype=torch.float64),
                    global_orient=0.2 * torch.randn(4, 3, generator=g, dtype=torch.float64))
    return out.vertices.numpy() + CAMERA


def _source(assets: SMPLEvalAssets) -> np.ndarray:
    return assets.map_cols[:, 0]  # the synthetic map is one-hot


def _rotation(axis_angle: np.ndarray) -> np.ndarray:
    from smplestx.geometry.rotations import axis_angle_to_rotmat

    return axis_angle_to_rotmat(torch.as_tensor(axis_angle, dtype=torch.float64), eps=0.0).numpy()


# ------------------------------------------------------------------------------------------------ references


def _rigid_align_numpy(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Umeyama alignment of A onto B written out with plain numpy calls (numpy's dtype promotion)."""
    n = A.shape[0]
    ca, cb = np.mean(A, axis=0), np.mean(B, axis=0)
    H = np.dot(np.transpose(A - ca), B - cb) / n
    U, s, Vt = np.linalg.svd(H)
    R = np.dot(np.transpose(Vt), np.transpose(U))
    if np.linalg.det(R) < 0:
        s[-1] = -s[-1]
        Vt[2] = -Vt[2]
        R = np.dot(np.transpose(Vt), np.transpose(U))
    c = 1 / np.var(A, axis=0).sum() * np.sum(s)
    t = -np.dot(c * R, np.transpose(ca)) + np.transpose(cb)
    return np.transpose(np.dot(c * R, np.transpose(A))) + t


def reference_numpy(P: np.ndarray, G: np.ndarray, matrix: np.ndarray, smplx_J: np.ndarray, smpl_J: np.ndarray
                    ) -> dict[str, list[float]]:
    """The reference's SMPL-GT formulas, one sample at a time, with the inputs' own dtypes."""
    lsp = list(LSP_MAPPING)
    out: dict[str, list[float]] = {k: [] for k in SMPL_METRIC_NAMES}
    for p, g in zip(P, G):
        aligned = p - np.dot(smplx_J, p)[0, None, :] + np.dot(smpl_J, g)[0, None, :]
        aligned = np.matmul(matrix, aligned)
        out["mpvpe_all"].append(float(np.sqrt(np.sum((aligned - g) ** 2, 1)).mean() * 1000))
        pa = _rigid_align_numpy(aligned, g)
        out["pa_mpvpe_all"].append(float(np.sqrt(np.sum((pa - g) ** 2, 1)).mean() * 1000))
        j_gt = np.dot(smpl_J, g)[lsp, :]
        j_out = np.dot(smpl_J, aligned)[lsp, :]
        out["mpjpe_body"].append(float(np.sqrt(np.sum((j_out - j_gt) ** 2, 1)).mean() * 1000))
        j_pa = _rigid_align_numpy(j_out, j_gt)
        out["pa_mpjpe_body"].append(float(np.sqrt(np.sum((j_pa - j_gt) ** 2, 1)).mean() * 1000))
    return out


def noisy_case(root: Path, src: np.ndarray, seed: int = 1, batch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """float32 predictions / GT like a real evaluation: rotated, scaled, noisy, metres from the camera."""
    rng = np.random.default_rng(seed)
    x = load_smplx_arrays(root, "neutral")["v_template"]
    P, G = [], []
    for b in range(batch):
        t = CAMERA + [0.3 * b, 0.0, 0.7 * b]
        G.append(x[src] + t + rng.normal(scale=0.01, size=(src.size, 3)))
        R = _rotation(rng.normal(scale=0.2, size=3))
        P.append((x @ R.T) * (1 + 0.04 * b) + t + rng.normal(scale=0.02, size=x.shape) + [0.01, 0.02, -0.03])
    return np.asarray(P, np.float32), np.asarray(G, np.float32)


def _dense(assets: SMPLEvalAssets, dtype: type) -> np.ndarray:
    m = np.zeros((assets.num_smpl_vertices, assets.num_smplx_vertices), dtype=dtype)
    m[np.arange(m.shape[0]), _source(assets)] = 1
    return m


# ------------------------------------------------------------------------------------------------------ tests


def test_assets(root: Path, assets: SMPLEvalAssets) -> None:
    assert assets.map_cols.shape == (6890, 1) and assets.map_dtype == np.float32
    assert assets.smpl_J_regressor.shape == (24, 6890) and assets.smplx_J_regressor.shape == (55, 10475)
    assert SMPLEvalAssets.from_dir(root) is assets and SMPLEvalAssets.resolve(assets) is assets
    np.testing.assert_array_equal(assets.smpl_J_regressor, load_smpl_arrays(root)["J_regressor"])
    assert not assets.map_cols.flags.writeable


@pytest.mark.parametrize("mode", ["corrected", "reference"])
def test_perfect_and_translated_predictions(assets: SMPLEvalAssets, posed: np.ndarray, mode: str) -> None:
    dtype = np.float64 if mode == "corrected" else np.float32  # the reference gets float32 meshes
    gt = posed[:, _source(assets)]
    # mm; in float32 the Procrustes scale of points 4 m from the camera is only good to ~1e-6: ~0.01 mm.
    tol = 1e-9 if mode == "corrected" else 0.05
    for shift in (np.zeros(3), np.array([0.3, -1.2, 2.5])):
        res = smpl_mesh_metrics((posed + shift).astype(dtype), gt.astype(dtype), assets=assets, mode=mode)
        assert set(res) == set(SMPL_METRIC_NAMES)
        for key, values in res.items():
            assert len(values) == 4 and max(values) < tol, (key, shift, values)


@pytest.mark.parametrize("mode", ["corrected", "reference"])
def test_rotation_and_scale_about_the_root(assets: SMPLEvalAssets, posed: np.ndarray, mode: str) -> None:
    """About the GT root joint: PA errors vanish and MPVPE / MPJPE have closed forms."""
    dtype = np.float64 if mode == "corrected" else np.float32
    gt = posed[:, _source(assets)]
    J = np.einsum("jv,bvc->bjc", assets.smpl_J_regressor, gt)
    r = J[:, :1]
    R = _rotation(np.array([0.3, -0.5, 0.2]))
    cases = {
        "rotation": ((posed - r) @ R.T + r, lambda y: np.linalg.norm(y @ R.T - y, axis=-1)),
        "scale": ((posed - r) * 1.07 + r, lambda y: 0.07 * np.linalg.norm(y, axis=-1)),
    }
    for name, (pred, err) in cases.items():
        res = smpl_mesh_metrics(pred.astype(dtype), gt.astype(dtype), assets=assets, mode=mode)
        expected_v = err(gt - r).mean(1) * 1000
        expected_j = err(J[:, list(LSP_MAPPING)] - r).mean(1) * 1000
        rtol = 1e-10 if mode == "corrected" else 2e-5
        np.testing.assert_allclose(res["mpvpe_all"], expected_v, rtol=rtol, err_msg=name)
        np.testing.assert_allclose(res["mpjpe_body"], expected_j, rtol=rtol, err_msg=name)
        assert max(res["pa_mpvpe_all"] + res["pa_mpjpe_body"]) < (1e-8 if mode == "corrected" else 0.05), name


def test_root_alignment_quirk(assets: SMPLEvalAssets, posed: np.ndarray) -> None:
    """The reference puts the SMPL-X pelvis of the prediction on the SMPL root of the GT: when the two joint
    definitions differ, a perfect prediction scores their distance; corrected mode aligns SMPL root to SMPL root."""
    smpl_J = np.array(assets.smpl_J_regressor)
    smpl_J[0] = 0.5 * (smpl_J[1] + smpl_J[2])  # a root definition that is not the SMPL-X pelvis
    quirky = SMPLEvalAssets(assets.map_cols, assets.map_weights, None, smpl_J, assets.smplx_J_regressor)
    gt = posed[:, _source(assets)]
    # The reference regresses with float32 copies of the regressors (smplx builds float32 buffers).
    delta = smpl_J[0].astype(np.float32).astype(np.float64) - assets.smpl_J_regressor[0].astype(np.float32)
    offset = np.linalg.norm(np.einsum("v,bvc->bc", delta, gt), axis=-1) * 1000  # mm per sample
    assert offset.min() > 1.0
    ref = smpl_mesh_metrics(posed, gt, assets=quirky, mode="reference")
    np.testing.assert_allclose(ref["mpvpe_all"], offset, rtol=1e-7)
    np.testing.assert_allclose(ref["mpjpe_body"], offset, rtol=1e-7)
    assert max(ref["pa_mpvpe_all"]) < 1e-8
    cor = smpl_mesh_metrics(posed, gt, assets=quirky, mode="corrected")
    assert max(v for values in cor.values() for v in values) < 1e-9


@pytest.mark.parametrize("matrix_dtype", [np.float64, np.float32])
def test_reference_matches_plain_numpy(root: Path, assets: SMPLEvalAssets, matrix_dtype: type) -> None:
    """Reference mode vs the formulas written out in numpy (float32 meshes and regressors, matrix as stored).

    The formulas sum float32 products, reference mode computes in float64 from the same float32 values: they
    agree to float32 noise, within the 1e-4 relative of docs/parity.md.
    """
    P, G = noisy_case(root, _source(assets))
    matrix = _dense(assets, matrix_dtype)
    a = SMPLEvalAssets.from_matrix(matrix, assets.smpl_J_regressor, assets.smplx_J_regressor)
    ours = smpl_mesh_metrics(P, G, assets=a, mode="reference")
    ref = reference_numpy(P, G, matrix, assets.smplx_J_regressor.astype(np.float32),
                          assets.smpl_J_regressor.astype(np.float32))
    for key in SMPL_METRIC_NAMES:
        np.testing.assert_allclose(ours[key], ref[key], rtol=1e-4, err_msg=key)
    # Corrected mode agrees with the reference here (same joint definitions) to float32 accuracy.
    cor = smpl_mesh_metrics(P, G, assets=a, mode="corrected")
    for key in SMPL_METRIC_NAMES:
        np.testing.assert_allclose(cor[key], ref[key], rtol=1e-3, err_msg=key)


def test_small_and_dense_matrices_match_numpy() -> None:
    """Barycentric-style rows (several non-zeros) and a dense matrix (kept dense) on a toy topology."""
    rng = np.random.default_rng(7)
    S, V = 40, 70
    smpl_J = rng.random((24, S))
    smpl_J /= smpl_J.sum(1, keepdims=True)
    smplx_J = rng.random((55, V))
    smplx_J /= smplx_J.sum(1, keepdims=True)
    bary = np.zeros((S, V))
    for i in range(S):
        cols = rng.choice(V, 3, replace=False)
        bary[i, cols] = rng.dirichlet(np.ones(3))
    dense = rng.random((S, V))
    dense /= dense.sum(1, keepdims=True)
    P = (rng.normal(size=(3, V, 3)) + CAMERA).astype(np.float32)
    G = (rng.normal(size=(3, S, 3)) + CAMERA).astype(np.float32)
    for matrix in (bary, dense):
        for dtype in (np.float32, np.float64):
            m = matrix.astype(dtype)
            a = SMPLEvalAssets.from_matrix(m, smpl_J, smplx_J)
            assert (a.map_dense is None) == (matrix is bary)
            ours = smpl_mesh_metrics(P, G, assets=a, mode="reference")
            ref = reference_numpy(P, G, m, smplx_J.astype(np.float32), smpl_J.astype(np.float32))
            for key in SMPL_METRIC_NAMES:
                np.testing.assert_allclose(ours[key], ref[key], rtol=1e-4, err_msg=key)


def test_batches_and_errors(root: Path, assets: SMPLEvalAssets, posed: np.ndarray, tmp_path: Path) -> None:
    P = np.concatenate([posed] * 18)[:70].astype(np.float32)  # more than one chunk of 64
    G = (P[:, _source(assets)] + 0.01).astype(np.float32)
    batch = smpl_mesh_metrics_per_sample(P, G, assets=assets, mode="reference")
    single = smpl_mesh_metrics_per_sample(P[66], G[66], assets=assets, mode="reference")
    for key in SMPL_METRIC_NAMES:
        assert batch[key].shape == (70,)
        # float64 sums may group differently with the batch size: equal to float64 rounding (1e-12 mm)
        np.testing.assert_allclose(batch[key][66], single[key][0], rtol=1e-12, atol=1e-12, err_msg=key)
    with pytest.raises(ValueError, match="unknown mode"):
        smpl_mesh_metrics(P, G, assets=assets, mode="paper")
    with pytest.raises(ValueError, match="SMPL has 6890"):
        smpl_mesh_metrics(P, P, assets=assets)
    with pytest.raises(ValueError, match="expect 10475"):
        smpl_mesh_metrics(G, G, assets=assets)
    with pytest.raises(ValueError, match="predictions but"):
        smpl_mesh_metrics(P[:2], G[:3], assets=assets)
    (tmp_path / "smplx").symlink_to(root / "smplx")
    (tmp_path / "smpl").symlink_to(root / "smpl")
    with pytest.raises(BodyModelFileError, match="smplx2smpl.pkl not found"):
        SMPLEvalAssets.from_dir(tmp_path)
