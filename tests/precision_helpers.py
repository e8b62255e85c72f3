"""Checks shared by the reduced-precision tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from smplestx.models import precision_tuning
from smplestx.body import BodyModel


def contour_bins(arrays: dict[str, np.ndarray], body_models: Path) -> np.ndarray:
    """The head-angle bin (P,) each person's face-contour joints were picked with, from a results file's poses."""
    body = BodyModel.from_dir(body_models)
    bins = body.face_contour_bins(torch.from_numpy(arrays["global_orient"]), torch.from_numpy(arrays["body_pose"]))
    return bins.numpy()


def comparable_joints(low_bins: np.ndarray, full_bins: np.ndarray) -> np.ndarray:
    """Mask (P, 137) of joints two runs can be compared at: face-contour joints only where both picked one bin.

    The library's own (the ``--dtype auto`` calibration checks its accuracy bound the same way).
    """
    return precision_tuning.comparable_joints(low_bins, full_bins)


def assert_same_people(low: np.ndarray, full: np.ndarray, mask: np.ndarray | None = None) -> None:
    """Camera-frame joints (P, J, 3) of a reduced-precision run match the fp32 run's: same people, other arithmetic.

    Root-relative joints within 30 mm (the tiny random-weight model: bf16 ~10 mm, int8 ~3 mm; trained weights move
    them ~1 mm) and depth within 1 % (a random tiny model puts people ~20 m away, where 0.2 % is 5 cm), yet not equal.
    ``mask`` (P, J) leaves out joints that are not comparable: the 17 face-contour joints are looked up by a
    head-angle bin, so where rounding moves a head across a bin edge they are other vertices, not an error
    (a 0.19 m "difference" on an AVX2 CPU's bf16 path was exactly that).
    """
    diff = np.abs((low - low[:, :1]) - (full - full[:, :1])).max(axis=-1)
    if mask is not None:
        assert mask[:, :1].all(), "the root joint is always comparable"
        diff = np.where(mask, diff, 0.0)
    rel = diff.max()
    depth = np.abs(low[:, 0, 2] / full[:, 0, 2] - 1).max()
    assert 0 < rel < 0.03, rel
    assert depth < 0.01, depth


def assert_same_results(low: dict[str, np.ndarray], full: dict[str, np.ndarray], body_models: Path) -> None:
    """Two results files' people match (as above), contour joints compared only where both runs share a bin."""
    mask = comparable_joints(contour_bins(low, body_models), contour_bins(full, body_models))
    assert_same_people(low["joints_3d"], full["joints_3d"], mask)


POSES = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")


def assert_predictions_close(low, full, *, joints_mm: tuple[float, float], rot: float, transl_m: float,
                             body: BodyModel | None = None) -> None:
    """Two CropPredictions of the same crops (a reduced-precision network against fp32) agree where it matters.

    Root-relative joints within ``joints_mm`` = (mean, max) millimetres, every pose's rotation matrices within
    ``rot`` per entry (compared as matrices: axis-angle has two branches near pi), the camera translation within
    ``transl_m``; and the joint bound separates different people, so the check can tell outputs apart. With the
    ``body`` model, face-contour joints count only where both runs picked the same head-angle bin.
    """
    from smplestx.geometry.rotations import axis_angle_to_rotmat

    def rel(p) -> torch.Tensor:
        return (p.joints_cam - p.joints_cam[:, :1]).double()

    def mats(aa: torch.Tensor) -> torch.Tensor:
        return axis_angle_to_rotmat(aa.double().reshape(-1, 3))

    err = (rel(low) - rel(full)).norm(dim=-1) * 1000
    if body is not None:
        bins = [body.face_contour_bins(p.global_orient.float(), p.body_pose.float()).numpy() for p in (low, full)]
        err = err[torch.from_numpy(comparable_joints(*bins))]
    assert err.mean() < joints_mm[0] and err.max() < joints_mm[1], (err.mean().item(), err.max().item())
    for name in POSES:
        diff = (mats(getattr(low, name)) - mats(getattr(full, name))).abs().max().item()
        assert diff < rot, (name, diff)
    assert (low.transl - full.transl).abs().max().item() < transl_m
    others = (rel(full) - rel(full).flip(0)).norm(dim=-1) * 1000  # each crop against another person's
    assert others.mean() > 3 * joints_mm[0], others.mean().item()
