"""Rotation conversions, the one home: 6D, matrices, axis-angle, quaternions, Euler (torch; numpy wrappers at the end)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """Map (..., 6) continuous 6D rotations to (..., 3, 3) matrices by Gram-Schmidt.

    The 6 numbers are read as a row-major 3x2 matrix: its columns (x0, x2, x4) and
    (x1, x3, x5) are orthonormalised into b1, b2 and R = [b1 b2 b1xb2] (columns).
    """
    m = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = m[..., 0], m[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    # dim=-1 explicitly: the reference omits it, which breaks batches of exactly 3.
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_quaternion(r: torch.Tensor) -> torch.Tensor:
    """Convert (..., 3, 3) rotation matrices to unit quaternions (..., 4) as (w, x, y, z).

    Picks, per matrix, the numerically largest of the four candidate components
    (Shepperd's method), so it is stable at 0 and 180 degrees.
    """
    m00, m01, m02 = r[..., 0, 0], r[..., 0, 1], r[..., 0, 2]
    m10, m11, m12 = r[..., 1, 0], r[..., 1, 1], r[..., 1, 2]
    m20, m21, m22 = r[..., 2, 0], r[..., 2, 1], r[..., 2, 2]
    trace = m00 + m11 + m22
    candidates = torch.stack(
        [
            torch.stack([1 + trace, m21 - m12, m02 - m20, m10 - m01], -1),
            torch.stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20], -1),
            torch.stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21], -1),
            torch.stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22], -1),
        ],
        dim=-2,
    )
    diag = torch.stack([1 + trace, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = diag.argmax(dim=-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = F.normalize(q, dim=-1)
    # Canonical sign (w >= 0) so the angle lands in [0, pi].
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """Convert (..., 4) unit quaternions (w, x, y, z) to axis-angle vectors (..., 3)."""
    xyz = q[..., 1:]
    sin_half = xyz.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., :1])
    # Near zero angle/sin_half -> 2; the safe denominator keeps gradients finite.
    small = sin_half < 1e-8
    scale = torch.where(small, torch.full_like(sin_half, 2.0), angle / torch.where(small, torch.ones_like(sin_half), sin_half))
    return xyz * scale


def rotmat_to_axis_angle(r: torch.Tensor) -> torch.Tensor:
    """Convert (..., 3, 3) rotation matrices to axis-angle vectors (..., 3)."""
    return quaternion_to_axis_angle(rotmat_to_quaternion(r))


def rot6d_to_axis_angle(x: torch.Tensor) -> torch.Tensor:
    """Convert (..., 6) 6D rotations to axis-angle (..., 3); NaNs become 0 as in the reference."""
    aa = rotmat_to_axis_angle(rot6d_to_rotmat(x))
    return torch.nan_to_num(aa, nan=0.0)


#: The reference's guard (``batch_rodrigues`` takes the norm of ``aa + 1e-8``); parity code passes it explicitly.
REFERENCE_EPS = 1e-8


def axis_angle_to_rotmat_minus_identity(aa: torch.Tensor) -> torch.Tensor:
    """Return R - I (..., 3, 3) for axis-angle vectors (..., 3); exact and differentiable at angle 0.

    Uses R - I = a [v]x + b (v v^T - |v|^2 I) with a = sin t / t, b = (1 - cos t) / t^2 = (sin(t/2) / (t/2))^2 / 2,
    which has no cancellation; near t = 0 both factors use their Taylor series.
    """
    x, y, z = aa.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    theta2 = xx + yy + zz
    small = theta2 < 1e-8
    # Keep the unused branch finite so that gradients through torch.where stay finite.
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    half = 0.5 * theta
    sinc_half = torch.sin(half) / half
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, 0.5 * sinc_half * sinc_half)
    ax, ay, az = a * x, a * y, a * z
    bxy, bxz, byz = b * x * y, b * x * z, b * y * z
    m = torch.stack(
        (
            -b * (yy + zz), bxy - az, bxz + ay,
            bxy + az, -b * (xx + zz), byz - ax,
            bxz - ay, byz + ax, -b * (xx + yy),
        ),
        dim=-1,
    )
    return m.view(aa.shape[:-1] + (3, 3))


def axis_angle_to_rotmat(aa: torch.Tensor, eps: float = REFERENCE_EPS) -> torch.Tensor:
    """Axis-angle (..., 3) to rotation matrices (..., 3, 3).

    ``eps`` > 0 follows the reference's route for parity: the angle is the norm of ``aa + eps`` and the matrix is
    built from the half-angle quaternion (float32 results then match the reference's losses bit for bit).
    ``eps`` = 0 is exact and differentiable at angle 0 (the body layers' route).
    """
    if not eps:
        return axis_angle_to_rotmat_minus_identity(aa) + torch.eye(3, dtype=aa.dtype, device=aa.device)
    angle = (aa + eps).norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    q = torch.cat((torch.cos(half), torch.sin(half) * (aa / angle)), dim=-1)
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    w2, x2, y2, z2 = w * w, x * x, y * y, z * z
    wx, wy, wz, xy, xz, yz = w * x, w * y, w * z, x * y, x * z, y * z
    m = (
        w2 + x2 - y2 - z2, 2 * xy - 2 * wz, 2 * wy + 2 * xz,
        2 * wz + 2 * xy, w2 - x2 + y2 - z2, 2 * yz - 2 * wx,
        2 * xz - 2 * wy, 2 * wx + 2 * yz, w2 - x2 - y2 + z2,
    )
    return torch.stack(m, dim=-1).reshape(*aa.shape[:-1], 3, 3)
def axis_angle_to_quaternion(aa: torch.Tensor) -> torch.Tensor:
    """Convert (..., 3) axis-angle vectors to unit quaternions (..., 4) as (w, x, y, z)."""
    angle = aa.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    # sin(a/2)/a -> 1/2 at a = 0; the Taylor branch keeps it exact and gradients finite there.
    small = angle < 1e-6
    safe = torch.where(small, torch.ones_like(angle), angle)
    scale = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe)
    return torch.cat([torch.cos(half), aa * scale], dim=-1)


def quaternion_slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between unit quaternions (..., 4) at fraction ``t`` (broadcast), shortest arc."""
    t = torch.as_tensor(t, dtype=q0.dtype, device=q0.device)
    if t.dim() == q0.dim() - 1 and t.dim() > 0:
        t = t[..., None]
    dot = (q0 * q1).sum(-1, keepdim=True)
    # q and -q are the same rotation: take the nearer one so the path is the short arc.
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-6
    safe = torch.where(near, torch.ones_like(sin_theta), sin_theta)
    w0 = torch.where(near, 1.0 - t, torch.sin((1.0 - t) * theta) / safe)
    w1 = torch.where(near, t, torch.sin(t * theta) / safe)
    return F.normalize(w0 * q0 + w1 * q1, dim=-1)


def rotmat_to_euler_zxy(r: torch.Tensor) -> torch.Tensor:
    """Convert (..., 3, 3) rotation matrices to Euler angles (..., 3) as (z, x, y) radians with R = Rz(z) Rx(x) Ry(y).

    This is BVH's ``Zrotation Xrotation Yrotation`` channel order (the rotation listed first is the outermost
    factor). The middle angle x is in [-pi/2, pi/2]; at gimbal lock (|x| = pi/2) y is set to 0.
    """
    sx = r[..., 2, 1].clamp(-1.0, 1.0)
    x = torch.asin(sx)
    cx = torch.sqrt((r[..., 2, 0] ** 2 + r[..., 2, 2] ** 2).clamp(min=0.0))
    # Away from the lock: R20 = -cx sy, R22 = cx cy, R01 = -sz cx, R11 = cz cx.
    y = torch.atan2(-r[..., 2, 0], r[..., 2, 2])
    z = torch.atan2(-r[..., 0, 1], r[..., 1, 1])
    # At the lock only z + y (or z - y) is defined: put it all in z (R00 = cz, R10 = sz when y = 0).
    locked = cx < 1e-7
    z = torch.where(locked, torch.atan2(r[..., 1, 0], r[..., 0, 0]), z)
    y = torch.where(locked, torch.zeros_like(y), y)
    return torch.stack((z, x, y), dim=-1)


def euler_zxy_to_rotmat(e: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rotmat_to_euler_zxy`: (..., 3) angles (z, x, y) radians to Rz(z) Rx(x) Ry(y)."""
    z, x, y = e.unbind(-1)
    one, zero = torch.ones_like(z), torch.zeros_like(z)

    def mat(*rows: torch.Tensor) -> torch.Tensor:
        return torch.stack(rows, -1).reshape(*z.shape, 3, 3)

    rz = mat(torch.cos(z), -torch.sin(z), zero, torch.sin(z), torch.cos(z), zero, zero, zero, one)
    rx = mat(one, zero, zero, zero, torch.cos(x), -torch.sin(x), zero, torch.sin(x), torch.cos(x))
    ry = mat(torch.cos(y), zero, torch.sin(y), zero, one, zero, -torch.sin(y), zero, torch.cos(y))
    return rz @ rx @ ry


def axis_angle_to_rotmat_np(aa: np.ndarray, eps: float = REFERENCE_EPS) -> np.ndarray:
    """numpy (..., 3) axis-angle -> (..., 3, 3) float64 matrices (the torch conversion, for numpy callers)."""
    return axis_angle_to_rotmat(torch.from_numpy(np.asarray(aa, np.float64)), eps=eps).numpy()


def rotmat_to_axis_angle_np(r: np.ndarray) -> np.ndarray:
    """numpy (..., 3, 3) matrices -> (..., 3) float64 axis-angle (the torch conversion, for numpy callers)."""
    return rotmat_to_axis_angle(torch.from_numpy(np.asarray(r, np.float64))).numpy()
