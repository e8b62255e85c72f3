"""Rotation conversions against the reference's transforms.npz and against math."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smplestx.geometry.rotations import (
    axis_angle_to_rotmat,
    rot6d_to_axis_angle,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
)


@pytest.fixture(scope="module")
def case(parity_dir):
    return dict(np.load(parity_dir / "cases" / "transforms.npz"))


def as_mat(aa: np.ndarray | torch.Tensor) -> np.ndarray:
    return axis_angle_to_rotmat(torch.as_tensor(aa, dtype=torch.float64)).numpy()


@pytest.mark.parametrize("src,dst", [("rot6d_special", "aa_special"), ("rot6d_rand5", "aa_rand5")])
def test_rot6d_to_axis_angle_matches_reference(case, src, dst):
    aa = rot6d_to_axis_angle(torch.from_numpy(case[src]))
    # Compared as matrices: at 180 degrees the axis sign is arbitrary.
    np.testing.assert_allclose(as_mat(aa), as_mat(case[dst]), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(aa.numpy(), axis=-1), np.linalg.norm(case[dst], axis=-1), atol=1e-5)


def test_batch_of_three_is_not_mixed(case):
    """The reference crosses along the batch for N == 3; we compute each row on its own."""
    aa = rot6d_to_axis_angle(torch.from_numpy(case["rot6d_rand3"]))
    np.testing.assert_allclose(as_mat(aa), as_mat(case["aa_rand3_one_by_one"]), atol=1e-5)
    assert np.abs(as_mat(aa) - as_mat(case["aa_rand3_batched"])).max() > 1e-2


def test_rot6d_to_rotmat_and_rodrigues(case):
    np.testing.assert_allclose(rot6d_to_rotmat(torch.from_numpy(case["rot6d_rand5"])).numpy(), case["rotmat_rand5"], atol=1e-6)
    np.testing.assert_allclose(axis_angle_to_rotmat(torch.from_numpy(case["rodrigues_aa"])).numpy(), case["rodrigues_rotmat"], atol=1e-6)


def test_round_trip_random_rotations():
    g = torch.Generator().manual_seed(0)
    axis = torch.nn.functional.normalize(torch.randn(2000, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.rand(2000, 1, generator=g, dtype=torch.float64) * torch.pi
    angle[:10] = torch.pi  # exactly 180 degrees
    angle[10:20] = 0.0
    angle[20:30] = 1e-9
    aa = axis * angle
    r = axis_angle_to_rotmat(aa)
    back = rotmat_to_axis_angle(r)
    # 1e-7: Rodrigues offsets the angle by ~1e-8 (the reference convention), nothing more.
    np.testing.assert_allclose(axis_angle_to_rotmat(back).numpy(), r.numpy(), atol=1e-7)
    assert torch.all(back.norm(dim=-1) <= torch.pi + 1e-9)
    np.testing.assert_allclose(back[30:].numpy(), aa[30:].numpy(), atol=1e-7)


def test_rotmats_are_orthonormal_and_gradients_finite():
    x = torch.randn(64, 6, dtype=torch.float64, requires_grad=True)
    r = rot6d_to_rotmat(x)
    eye = torch.eye(3, dtype=torch.float64).expand(64, 3, 3)
    np.testing.assert_allclose((r @ r.transpose(1, 2)).detach().numpy(), eye.numpy(), atol=1e-12)
    np.testing.assert_allclose(torch.linalg.det(r).detach().numpy(), np.ones(64), atol=1e-12)
    rot6d_to_axis_angle(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    z = torch.zeros(4, 3, requires_grad=True)
    axis_angle_to_rotmat(z).sum().backward()
    assert torch.isfinite(z.grad).all()


def test_axis_angle_to_quaternion_agrees_with_the_matrix_path():
    from smplestx.geometry.rotations import axis_angle_to_quaternion, quaternion_to_axis_angle, rotmat_to_quaternion

    rng = np.random.default_rng(0)
    aa = torch.from_numpy(rng.normal(size=(200, 3)) * 1.2)
    aa[0] = 0.0
    aa[1] = torch.tensor([1e-8, 0.0, 0.0], dtype=torch.float64)
    q = axis_angle_to_quaternion(aa)
    np.testing.assert_allclose(q.norm(dim=-1).numpy(), 1.0, atol=1e-12)
    q_ref = rotmat_to_quaternion(axis_angle_to_rotmat(aa))
    # Same rotation: q = +-q_ref.
    np.testing.assert_allclose((q * q_ref).sum(-1).abs().numpy(), 1.0, atol=1e-7)
    back = quaternion_to_axis_angle(torch.where(q[:, :1] < 0, -q, q))
    # 1e-7: axis_angle_to_rotmat adds 1e-8 to the angle (the reference's guard).
    np.testing.assert_allclose(as_mat(back), as_mat(aa), atol=1e-7)


def test_slerp_follows_the_short_arc_at_constant_speed():
    from smplestx.geometry.rotations import axis_angle_to_quaternion, quaternion_slerp, quaternion_to_axis_angle

    q0 = axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 0.2], dtype=torch.float64))
    q1 = -axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))  # sign-flipped copy
    for t in (0.0, 0.25, 0.5, 1.0):
        q = quaternion_slerp(q0, q1, t)
        aa = quaternion_to_axis_angle(torch.where(q[:1] < 0, -q, q))
        np.testing.assert_allclose(aa.numpy(), [0.0, 0.0, 0.2 + 0.8 * t], atol=1e-12)
    same = quaternion_slerp(q0, q0, 0.3)
    np.testing.assert_allclose(same.numpy(), q0.numpy(), atol=1e-12)


def test_euler_zxy_round_trip_including_gimbal_lock():
    from smplestx.geometry.rotations import euler_zxy_to_rotmat, rotmat_to_euler_zxy

    g = torch.Generator().manual_seed(3)
    r = axis_angle_to_rotmat(torch.randn(2000, 3, generator=g, dtype=torch.float64) * 1.5)
    # Exactly at the lock (x = +-90 deg) and at identity.
    locked = euler_zxy_to_rotmat(torch.tensor([[0.3, np.pi / 2, -0.4], [1.0, -np.pi / 2, 0.2], [0, 0, 0]],
                                              dtype=torch.float64))
    r = torch.cat([r, locked])
    e = rotmat_to_euler_zxy(r)
    assert (e[:, 1].abs() <= np.pi / 2 + 1e-12).all()
    assert torch.allclose(euler_zxy_to_rotmat(e), r, atol=1e-9)
    # The convention itself: R = Rz Rx Ry, i.e. a pure z angle is a rotation about z.
    rz = euler_zxy_to_rotmat(torch.tensor([0.5, 0.0, 0.0], dtype=torch.float64))
    assert torch.allclose(rz, axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64)), atol=1e-9)
