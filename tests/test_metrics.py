"""Mesh metrics: parity with the reference's evaluate (reference mode) and the fixed semantics (corrected mode)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from smplestx.body import BodyModelFileError
from smplestx.evaluate import (
    METRIC_NAMES,
    EvalAssets,
    PerSampleMetrics,
    mesh_metrics,
    mesh_metrics_per_sample,
    rigid_align,
    rigid_transform,
    summarize,
)

PARITY = Path(__file__).resolve().parents[1].parent / "shared" / "parity"
PARITY_SMPLX = PARITY / "smplx"
METRICS_NPZ = PARITY / "cases" / "metrics.npz"
RTOL = 1e-4  # reference mode computes in float64; the reference summed in float32 (docs/parity.md)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"parity fixtures not available ({path} missing; they live in ../shared/parity)")
    return path


@pytest.fixture(scope="module")
def assets() -> EvalAssets:
    """Evaluation assets of the synthetic parity body model."""
    return EvalAssets.from_dir(_need(PARITY_SMPLX))


@pytest.fixture(scope="module")
def case() -> dict[str, np.ndarray]:
    """Contents of cases/metrics.npz."""
    with np.load(_need(METRICS_NPZ)) as npz:
        return {k: npz[k] for k in npz.files}


def _assert_list_equal(got: list[float], expected: np.ndarray, what: str) -> None:
    g = np.asarray(got, dtype=np.float64)
    assert g.shape == expected.shape, f"{what}: length {g.shape} != {expected.shape}"
    assert np.array_equal(np.isnan(g), np.isnan(expected)), f"{what}: NaN positions differ"
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(g[ok], expected[ok], rtol=RTOL, atol=0, err_msg=what)


def _pelvis(assets: EvalAssets, mesh: np.ndarray) -> np.ndarray:
    return assets.J_regressor[0] @ mesh


# ---------------------------------------------------------------------------------------------------------------
# Reference mode: parity with cases/metrics.npz
# ---------------------------------------------------------------------------------------------------------------


def test_reference_batch_parity(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    got = mesh_metrics(case["mesh_out"], case["mesh_gt"], case["lhand_valid"], case["rhand_valid"],
                       body_models=assets, mode="reference")
    assert list(got) == list(METRIC_NAMES)
    for key in METRIC_NAMES:
        _assert_list_equal(got[key], case[f"eval_{key}"], f"eval_{key}")


def test_reference_probe_parity(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    # 10x scaled GT: every valid hand's PA-MPJPE exceeds 100 mm, so the PA-MPJPE hand lists stay empty.
    got = mesh_metrics(case["mesh_out"][5], case["probe_mesh_gt"], 1.0, 1.0, body_models=assets, mode="reference")
    for key in METRIC_NAMES:
        _assert_list_equal(got[key], case[f"probe_eval_{key}"], f"probe_eval_{key}")
    assert got["pa_mpjpe_l_hand"] == got["pa_mpjpe_r_hand"] == got["pa_mpjpe_hand"] == []


def test_reference_persample_parity(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    n = case["mesh_gt"].shape[0]
    batch = mesh_metrics_per_sample(case["mesh_out"], case["mesh_gt"], case["lhand_valid"], case["rhand_valid"],
                                    body_models=assets, mode="reference")
    for i in range(n):
        alone = mesh_metrics(case["mesh_out"][i], case["mesh_gt"][i], case["lhand_valid"][i], case["rhand_valid"][i],
                             body_models=assets, mode="reference")
        for key in METRIC_NAMES:
            present = bool(case[f"persample_{key}_present"][i])
            assert len(alone[key]) == int(present), f"persample_{key}[{i}]"
            assert bool(batch.present[key][i]) == present, f"batch present {key}[{i}]"
            if present:
                _assert_list_equal(alone[key], case[f"persample_{key}"][i : i + 1], f"persample_{key}[{i}]")
    for key in METRIC_NAMES:
        _assert_list_equal(list(batch.values[key]), case[f"persample_{key}"], f"per-sample values {key}")


def test_reference_summary_propagates_nan(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    got = summarize(mesh_metrics(case["mesh_out"], case["mesh_gt"], case["lhand_valid"], case["rhand_valid"],
                                 body_models=assets, mode="reference"))
    # Sample 4 has both hands invalid: the reference appends NaN to the combined hand lists.
    for key in ("mpvpe_hand", "pa_mpvpe_hand", "mpjpe_hand", "pa_mpjpe_hand"):
        assert math.isnan(got[key])
    assert got["mpvpe_all"] == pytest.approx(float(np.mean(case["eval_mpvpe_all"])), rel=RTOL)


# ---------------------------------------------------------------------------------------------------------------
# Corrected mode
# ---------------------------------------------------------------------------------------------------------------


def test_corrected_identity_is_zero(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    gt = case["mesh_gt"][:3]
    got = mesh_metrics(gt, gt, 1.0, 1.0, body_models=assets)
    for key in METRIC_NAMES:
        assert len(got[key]) == 3, key
        np.testing.assert_allclose(got[key], 0.0, atol=1e-6, err_msg=key)


def test_corrected_translation(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    gt = case["mesh_gt"][:2].astype(np.float64)
    pred = gt + np.array([0.31, -0.2, 1.7])
    got = mesh_metrics(pred, gt, 1.0, 1.0, body_models=assets)
    # Every metric aligns a translation away (pelvis / neck / wrist anchors or Procrustes).
    for key in METRIC_NAMES:
        np.testing.assert_allclose(got[key], 0.0, atol=1e-6, err_msg=key)


def test_corrected_rotation(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    gt = case["mesh_gt"][0].astype(np.float64)
    angle = np.deg2rad(20.0)
    R = np.array([[np.cos(angle), 0.0, np.sin(angle)], [0.0, 1.0, 0.0], [-np.sin(angle), 0.0, np.cos(angle)]])
    pelvis = _pelvis(assets, gt)
    pred = (gt - pelvis) @ R.T + pelvis
    got = mesh_metrics(pred, gt, 1.0, 1.0, body_models=assets)
    for key in ("pa_mpvpe_all", "pa_mpvpe_face", "pa_mpjpe_body", "pa_mpvpe_hand", "pa_mpjpe_hand"):
        np.testing.assert_allclose(got[key], 0.0, atol=1e-6, err_msg=key)
    # The pelvis is a fixed point of the rotation, so the pelvis-aligned error is the plain vertex displacement.
    expected = np.linalg.norm(pred - gt, axis=1).mean() * 1000
    assert got["mpvpe_all"][0] == pytest.approx(expected, rel=1e-9)
    assert expected > 50


def test_corrected_uniform_scale(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    gt = case["mesh_gt"][1].astype(np.float64)
    pelvis = _pelvis(assets, gt)
    pred = (gt - pelvis) * 1.15 + pelvis
    got = mesh_metrics(pred, gt, 1.0, 1.0, body_models=assets)
    for key in METRIC_NAMES:
        if key.startswith("pa_"):
            np.testing.assert_allclose(got[key], 0.0, atol=1e-6, err_msg=key)
    expected = 0.15 * np.linalg.norm(gt - pelvis, axis=1).mean() * 1000
    assert got["mpvpe_all"][0] == pytest.approx(expected, rel=1e-9)


def test_corrected_hand_validity(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    gt, pred = case["mesh_gt"][:3], case["mesh_out"][:3]
    lv, rv = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    per = mesh_metrics_per_sample(pred, gt, lv, rv, body_models=assets)
    lists = per.to_lists()
    for m in ("mpvpe", "pa_mpvpe", "mpjpe", "pa_mpjpe"):
        assert per.present[f"{m}_l_hand"].tolist() == [True, False, False]
        assert per.present[f"{m}_r_hand"].tolist() == [False, True, False]
        assert per.present[f"{m}_hand"].tolist() == [True, True, False]
        assert len(lists[f"{m}_hand"]) == 2
        assert not np.isnan(lists[f"{m}_hand"]).any()
        # With one valid hand the combined value is that hand's value.
        assert lists[f"{m}_hand"] == [lists[f"{m}_l_hand"][0], lists[f"{m}_r_hand"][0]]
        assert math.isnan(per.values[f"{m}_hand"][2])
    summary = summarize(lists)
    assert all(math.isfinite(summary[k]) for k in METRIC_NAMES)
    rows = per.rows()
    assert len(rows) == 3 and rows[2]["mpvpe_hand"] is None and rows[2]["mpvpe_all"] is not None


def test_hand_mpjpe_frame_quirk(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    # GT far from the camera and the prediction equal to it up to a translation.
    gt = case["mesh_gt"][0].astype(np.float64) + np.array([0.0, 0.0, 6.0])
    pred = gt + np.array([0.05, -0.03, 0.2])
    corrected = mesh_metrics(pred, gt, 1.0, 1.0, body_models=assets)
    reference = mesh_metrics(pred.astype(np.float32), gt.astype(np.float32), 1.0, 1.0, body_models=assets,
                             mode="reference")
    for key in ("mpjpe_l_hand", "mpjpe_r_hand", "mpjpe_hand"):
        assert corrected[key][0] < 1e-6, key
        # Reference: wrist-relative prediction against absolute GT joints -> roughly the GT hands' distance.
        assert reference[key][0] > 5000, key


def _procrustes_error_mm(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance (mm) of points ``a`` (N, 3) to ``b`` after the best similarity transform of a onto b.

    Written out here (Umeyama 1991: centre, SVD of the covariance, reflection fix, scale = trace / variance),
    independently of the package's rigid_align, so that the metric is checked against its definition.
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    x, y = a - mu_a, b - mu_b
    u, sing, vt = np.linalg.svd(y.T @ x / len(a))
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (sing * d).sum() / (x**2).sum(1).mean()
    aligned = scale * x @ rot.T + mu_b
    return float(np.linalg.norm(aligned - b, axis=1).mean() * 1000)


def test_corrected_has_no_100mm_skip(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    """A hand over 100 mm PA-MPJPE is kept (the reference skips it), with the value its definition gives."""
    pred, gt = case["mesh_out"][5].astype(np.float64), case["probe_mesh_gt"].astype(np.float64)
    got = mesh_metrics(case["mesh_out"][5], case["probe_mesh_gt"], 1.0, 1.0, body_models=assets)
    # The 20 hand joints: the MANO regressor's rows after the wrist (15 finger joints, 5 tips). The wrist offset
    # subtracted by the metric is a translation, which the alignment absorbs.
    expected = {side: _procrustes_error_mm((assets.hand_regressors[side] @ pred)[1:], (assets.hand_regressors[side] @ gt)[1:])
                for side in ("left", "right")}
    assert min(expected.values()) > 100  # both hands would be skipped by the reference
    assert got["pa_mpjpe_l_hand"] == [pytest.approx(expected["left"], rel=1e-9)]
    assert got["pa_mpjpe_r_hand"] == [pytest.approx(expected["right"], rel=1e-9)]
    assert got["pa_mpjpe_hand"] == [pytest.approx((expected["left"] + expected["right"]) / 2, rel=1e-9)]


def test_batch_equals_single(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    batch = mesh_metrics_per_sample(case["mesh_out"], case["mesh_gt"], 1.0, 1.0, body_models=assets)
    single = mesh_metrics_per_sample(case["mesh_out"][3], case["mesh_gt"][3], 1.0, 1.0, body_models=assets)
    for key in METRIC_NAMES:
        assert single.values[key][0] == pytest.approx(batch.values[key][3], rel=1e-12)


def test_input_errors(assets: EvalAssets, case: dict[str, np.ndarray]) -> None:
    gt = case["mesh_gt"][:2]
    with pytest.raises(ValueError, match="unknown mode"):
        mesh_metrics(gt, gt, 1.0, 1.0, body_models=assets, mode="paper")
    with pytest.raises(ValueError, match="differ in shape"):
        mesh_metrics(gt[:1], gt, 1.0, 1.0, body_models=assets)
    with pytest.raises(ValueError, match="vertices"):
        mesh_metrics(gt[:, :100], gt[:, :100], 1.0, 1.0, body_models=assets)
    with pytest.raises(ValueError, match="scalars"):
        mesh_metrics(gt, gt, np.ones(3), 1.0, body_models=assets)


def test_summarize_empty_and_plain_mean() -> None:
    got = summarize({"a": [], "b": [1.0, 2.0], "c": [1.0, float("nan")]})
    assert math.isnan(got["a"]) and got["b"] == 1.5 and math.isnan(got["c"])
    per = PerSampleMetrics(
        values={k: np.array([1.0, np.nan]) for k in METRIC_NAMES},
        present={k: np.array([True, False]) for k in METRIC_NAMES},
        mode="corrected",
    )
    assert summarize(per)["mpvpe_all"] == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Assets
# ---------------------------------------------------------------------------------------------------------------


def test_assets_shapes_and_cache(assets: EvalAssets) -> None:
    assert EvalAssets.from_dir(PARITY_SMPLX) is assets
    assert EvalAssets.from_dir(PARITY) is assets  # the folder holding smplx/ resolves to the same model
    v = assets.num_vertices
    assert assets.J_regressor.shape == (55, v) and assets.j14_regressor.shape == (14, v)
    assert assets.hand_regressors["left"].shape == (21, v) and set(assets.hand_vertex_ids) == {"left", "right"}
    assert assets.J_regressor.dtype == np.float64 and not assets.J_regressor.flags.writeable


@pytest.mark.parametrize("missing", ["SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy"])
def test_missing_asset_names_the_file(tmp_path: Path, missing: str) -> None:
    src = _need(PARITY_SMPLX)
    for name in ("SMPLX_NEUTRAL.npz", "SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy"):
        if name != missing:
            os.symlink(src / name, tmp_path / name)
    with pytest.raises(BodyModelFileError, match=missing.replace(".", r"\.")):
        EvalAssets.from_dir(tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# rigid_align
# ---------------------------------------------------------------------------------------------------------------


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def test_rigid_align_recovers_similarity() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(4, 50, 3))
    gt = np.empty_like(pts)
    for i in range(4):
        R, c, t = _random_rotation(rng), rng.uniform(0.3, 3.0), rng.normal(size=3) * 5
        gt[i] = c * pts[i] @ R.T + t
        cc, RR, tt = rigid_transform(pts[i], gt[i])
        assert cc == pytest.approx(c, rel=1e-10)
        np.testing.assert_allclose(RR, R, atol=1e-10)
        np.testing.assert_allclose(tt, t, atol=1e-9)
    aligned = rigid_align(pts, gt)
    np.testing.assert_allclose(aligned, gt, atol=1e-9)
    np.testing.assert_allclose(rigid_align(pts[2], gt[2]), aligned[2], atol=1e-12)


def test_rigid_align_reflection() -> None:
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(40, 3)) * [1.0, 0.5, 0.2]
    gt = pts * [1.0, 1.0, -1.0]  # a mirror image: no proper rotation maps pts onto it
    c, R, t = rigid_transform(pts, gt)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    # Umeyama with the sign fix: R = V diag(1, 1, -1) U^T and c = (s1 + s2 - s3) / var(pred).
    a0, b0 = pts - pts.mean(0), gt - gt.mean(0)
    U, s, Vh = np.linalg.svd(a0.T @ b0 / len(pts))
    D = np.diag([1.0, 1.0, -1.0])
    np.testing.assert_allclose(R, Vh.T @ D @ U.T, atol=1e-12)
    assert c == pytest.approx((s[0] + s[1] - s[2]) / pts.var(axis=0).sum(), rel=1e-12)
    aligned = rigid_align(pts, gt)
    assert np.abs(aligned - gt).max() > 1e-3  # the reflection itself is not reproduced


def test_rigid_align_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        rigid_align(np.zeros((5, 3)), np.zeros((6, 3)))
    with pytest.raises(ValueError):
        rigid_align(np.zeros((5, 2)), np.zeros((5, 2)))
