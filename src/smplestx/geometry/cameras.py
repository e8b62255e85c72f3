"""The crop camera mapped back to the full image, the one projection, and the translation fit."""

from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np
import torch

from .crops import FOCAL, INPUT_BODY_SHAPE, PRINCPT

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
#: Depth guard of the reference's projection (added to z before the division).
PROJECTION_EPS = 1e-4


def crop_camera(
    box_xywh: np.ndarray,
    focal: tuple[float, float] = FOCAL,
    princpt: tuple[float, float] = PRINCPT,
    body_shape: tuple[int, int] = INPUT_BODY_SHAPE,
) -> tuple[np.ndarray, np.ndarray]:
    """Focal length and principal point, in full-image pixels, of the camera of a processed box.

    The network's virtual camera (focal 5000 on the 256x192 body input) is scaled to
    the box: the predicted mesh (transl included) then projects straight onto the image.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    f = np.array([focal[0] / body_shape[1] * w, focal[1] / body_shape[0] * h], dtype=np.float64)
    c = np.array([princpt[0] / body_shape[1] * w + x, princpt[1] / body_shape[0] * h + y], dtype=np.float64)
    return f, c


def project_points(points: ArrayT, focal: Sequence[float] | np.ndarray, princpt: Sequence[float] | np.ndarray,
                   eps: float = PROJECTION_EPS) -> ArrayT:
    """Pinhole projection of (..., 3) camera-frame points to (..., 2) pixels, numpy or torch (z + eps as the reference).

    The one projection of the package: model, training targets, estimator and evaluation all call it.
    """
    z = points[..., 2:3] + eps
    if isinstance(points, torch.Tensor):
        f = torch.as_tensor(np.asarray(focal, dtype=np.float64), dtype=points.dtype, device=points.device)
        c = torch.as_tensor(np.asarray(princpt, dtype=np.float64), dtype=points.dtype, device=points.device)
        return points[..., :2] / z * f + c
    return points[..., :2] / z * np.asarray(focal) + np.asarray(princpt)


def fit_translation(
    points: np.ndarray,
    targets: np.ndarray,
    focal: np.ndarray,
    princpt: np.ndarray,
    *,
    iterations: int = 5,
    eps: float = 1e-4,
) -> np.ndarray:
    """Translations (N, 3) minimising the squared reprojection error of ``points + t`` onto ``targets``.

    ``points`` (N, J, 3) are body joints without translation (metres, camera axes), ``targets``
    (N, J, 2) their pixels; ``focal`` and ``princpt`` are (2,) or (N, 2). One pinhole camera per
    person, projected as :func:`project_points` does (z + eps). Batched over people.
    """
    x = np.asarray(points, np.float64)
    u = np.asarray(targets, np.float64)
    if x.ndim != 3 or x.shape[-1] != 3 or u.shape != (*x.shape[:2], 2):
        raise ValueError(f"points must be (N, J, 3) and targets (N, J, 2), got {x.shape} and {u.shape}")
    f = np.broadcast_to(np.asarray(focal, np.float64), (x.shape[0], 2))[:, None, :]
    c = np.broadcast_to(np.asarray(princpt, np.float64), (x.shape[0], 2))[:, None, :]
    if x.shape[0] == 0:
        return np.zeros((0, 3))
    # Linear start (the DLT): with normalised rays m = (u - c) / f, each joint gives
    # t_xy - m * t_z = m * (z + eps) - p_xy, exact for noise-free targets.
    m = (u - c) / f
    a = np.zeros((*m.shape, 3))
    a[..., 0, 0] = 1.0
    a[..., 1, 1] = 1.0
    a[..., 2] = -m
    b = m * (x[..., 2:3] + eps) - x[..., :2]
    a = a.reshape(x.shape[0], -1, 3)
    b = b.reshape(x.shape[0], -1)
    t = _solve_normal(a, b)
    # The DLT weighs each joint by its depth; Gauss-Newton steps on the pixel residual reach the
    # true least-squares optimum (the problem is nearly linear: 2-3 steps suffice).
    for _ in range(iterations):
        q = x + t[:, None, :]
        d = q[..., 2:3] + eps
        r = (q[..., :2] / d * f + c - u).reshape(x.shape[0], -1)
        jac = np.zeros((*q.shape[:2], 2, 3))
        jac[..., 0, 0] = f[..., 0] / d[..., 0]
        jac[..., 1, 1] = f[..., 1] / d[..., 0]
        jac[..., 2] = -(f * q[..., :2]) / d**2
        step = _solve_normal(jac.reshape(x.shape[0], -1, 3), -r)
        t = t + step
        if np.abs(step).max() < 1e-7:  # metres: far below anything a network resolves
            break
    return t


def _solve_normal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched least squares ``a @ t ~ b`` via the 3x3 normal equations (rows are few and well scaled)."""
    at = a.swapaxes(1, 2)
    return np.linalg.solve(at @ a, at @ b[..., None])[..., 0]
