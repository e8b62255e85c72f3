"""The Umeyama similarity (rotation, translation, optional scale) of two point sets: the one home of the fit."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


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
    pred: np.ndarray, gt: np.ndarray, *, dtype: DTypeLike | None = np.float64, scale: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Umeyama similarity ``gt ≈ c * R @ pred + t`` of (N, 3) / (B, N, 3) point sets as (c, R, t); c = 1 unless ``scale``."""
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
    if scale:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = (1 / A.var(axis=-2).sum(axis=-1)) * s.sum(axis=-1)
    else:
        c = np.ones(A.shape[:-2], A.dtype)
    t = mu_b[..., 0, :] - ((c[..., None, None] * R) @ mu_a[..., 0, :, None])[..., 0]
    return c, R, t


def rigid_align(pred: np.ndarray, gt: np.ndarray, *, dtype: DTypeLike | None = np.float64) -> np.ndarray:
    """Return ``pred`` (N, 3) or (B, N, 3) after the Umeyama similarity that best maps it onto ``gt``."""
    c, R, t = rigid_transform(pred, gt, dtype=dtype)
    A = np.asarray(pred).astype(c.dtype, copy=False)
    return A @ np.swapaxes(c[..., None, None] * R, -1, -2) + t[..., None, :]
