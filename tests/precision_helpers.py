"""Checks shared by the reduced-precision tests."""

from __future__ import annotations

import numpy as np


def assert_same_people(low: np.ndarray, full: np.ndarray) -> None:
    """Camera-frame joints (P, J, 3) of a reduced-precision run match the fp32 run's: same people, other arithmetic.

    Root-relative joints within 30 mm (the tiny random-weight model: bf16 ~10 mm, int8 ~3 mm; trained weights move
    them ~1 mm) and depth within 1 % (a random tiny model puts people ~20 m away, where 0.2 % is 5 cm), yet not equal.
    """
    rel = np.abs((low - low[:, :1]) - (full - full[:, :1])).max()
    depth = np.abs(low[:, 0, 2] / full[:, 0, 2] - 1).max()
    assert 0 < rel < 0.03, rel
    assert depth < 0.01, depth


POSES = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")


def assert_predictions_close(low, full, *, joints_mm: tuple[float, float], rot: float, transl_m: float) -> None:
    """Two CropPredictions of the same crops (a reduced-precision network against fp32) agree where it matters.

    Root-relative joints within ``joints_mm`` = (mean, max) millimetres, every pose's rotation matrices within
    ``rot`` per entry (compared as matrices: axis-angle has two branches near pi), the camera translation within
    ``transl_m``; and the joint bound separates different people, so the check can tell outputs apart.
    """
    import torch

    from smplestx.nn.rotations import axis_angle_to_rotmat

    def rel(p) -> torch.Tensor:
        return (p.joints_cam - p.joints_cam[:, :1]).double()

    def mats(aa: torch.Tensor) -> torch.Tensor:
        return axis_angle_to_rotmat(aa.double().reshape(-1, 3))

    err = (rel(low) - rel(full)).norm(dim=-1) * 1000
    assert err.mean() < joints_mm[0] and err.max() < joints_mm[1], (err.mean().item(), err.max().item())
    for name in POSES:
        diff = (mats(getattr(low, name)) - mats(getattr(full, name))).abs().max().item()
        assert diff < rot, (name, diff)
    assert (low.transl - full.transl).abs().max().item() < transl_m
    others = (rel(full) - rel(full).flip(0)).norm(dim=-1) * 1000  # each crop against another person's
    assert others.mean() > 3 * joints_mm[0], others.mean().item()
