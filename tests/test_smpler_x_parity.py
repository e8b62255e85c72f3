"""SMPLer-X parity with the reference's golden numbers (shared/parity/smpler_x_tiny)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import PARITY

SX = PARITY / "smpler_x_tiny"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"SMPLer-X parity fixtures not available ({path} missing; they live in ../shared/parity)")
    return path


@pytest.fixture(scope="module")
def units() -> dict[str, torch.Tensor]:
    """cases/units.npz as tensors."""
    return {k: torch.from_numpy(v) for k, v in np.load(_need(SX / "cases" / "units.npz")).items()}


def _maxdiff(a: torch.Tensor, b: torch.Tensor | np.ndarray) -> float:
    return float((a.detach().double().cpu() - torch.as_tensor(b).double()).abs().max())


# ---------------------------------------------------------------------------------------------- units


def test_soft_argmax_matches_reference(units):
    from smplestx.nn.heatmap import soft_argmax_2d, soft_argmax_3d

    assert _maxdiff(soft_argmax_3d(units["softargmax3d_in"]), units["softargmax3d_out"]) < 1e-6
    assert _maxdiff(soft_argmax_2d(units["softargmax2d_in"]), units["softargmax2d_out"]) < 1e-6


def test_sample_joint_features_matches_reference(units):
    from smplestx.nn.heatmap import sample_joint_features

    assert _maxdiff(sample_joint_features(units["sample_feat"], units["sample_xy"]), units["sample_out"]) < 1e-6


@pytest.mark.parametrize("key,extension", [("restore_hand", 2.0), ("restore_face", 1.5)])
def test_restore_bbox_matches_reference(units, key, extension):
    from smplestx.nn.heatmap import restore_bbox

    box = restore_bbox(
        units["restore_center"], units["restore_size"], aspect_ratio=1.0, extension=extension,
        hm_shape=(16, 12), input_shape=(256, 192),
    )
    assert _maxdiff(box, units[key]) < 1e-4
    # Size (-2, -3): both negative, the box stays inverted (x2 < x1) as in the reference.
    assert box[3, 2] < box[3, 0] and box[3, 3] < box[3, 1]


def test_roi_align_matches_mmcv_kernel(units):
    from smplestx.nn.roi_align import roi_align

    out = roi_align(units["roi_feat"], units["roi_rois"], (16, 16))
    assert out.shape == (5, 3, 16, 16)
    assert _maxdiff(out, units["roi_out"]) < 1e-5
    out64 = roi_align(units["roi_feat"].double(), units["roi_rois"].double(), (16, 16))
    # The stored float64 transcription was cast to float32: compare at float32 resolution.
    assert _maxdiff(out64, units["roi_out_mmcv_np64"]) < 1e-6


def test_roi_align_gradient_reaches_features(units):
    from smplestx.nn.roi_align import roi_align

    feat = units["roi_feat"].clone().requires_grad_(True)
    roi_align(feat, units["roi_rois"], (16, 16)).sum().backward()
    assert feat.grad is not None and float(feat.grad.abs().sum()) > 0


@pytest.mark.parametrize("src,dst", [("rot6d_special", "aa_special"), ("rot6d_rand5", "aa_rand5"), ("rot6d_rand3", "aa_rand3_one_by_one")])
def test_rotations_match_reference(units, src, dst):
    from smplestx.nn.rotations import rot6d_to_axis_angle

    # Batches of 3 give the intended (one-by-one) result, not the reference's torch.cross(dim=0) accident.
    assert _maxdiff(rot6d_to_axis_angle(units[src]), units[dst]) < 1e-5
