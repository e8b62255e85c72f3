"""Face landmarks of the mannequin (iBUG-68: static points and the yaw-dependent contour)."""

from __future__ import annotations

import numpy as np

from .assembly import _Built
from .head import _HeadInfo, _surface_angles, S_HEAD
from .skeleton import MOUTH_Y

def _static_landmark_targets() -> np.ndarray:
    """(51, 2) x and y of iBUG points 17..67 on the front of the head (the person's right is -x)."""
    brow_r = [(-0.056, 0.389), (-0.047, 0.394), (-0.037, 0.396), (-0.027, 0.395), (-0.016, 0.392)]
    brow_l = [(-x, y) for x, y in brow_r[::-1]]
    bridge = [(0.0, 0.372), (0.0, 0.36), (0.0, 0.348), (0.0, 0.336)]
    nostrils = [(-0.014, 0.326), (-0.007, 0.3235), (0.0, 0.322), (0.007, 0.3235), (0.014, 0.326)]
    eye_r = [(-0.045, 0.371), (-0.037, 0.375), (-0.027, 0.375), (-0.019, 0.370), (-0.027, 0.3665), (-0.037, 0.3665)]
    eye_l = [(0.019, 0.370), (0.027, 0.375), (0.037, 0.375), (0.045, 0.371), (0.037, 0.3665), (0.027, 0.3665)]
    m = MOUTH_Y
    lips_out = [(-0.024, m), (-0.016, m + 0.005), (-0.006, m + 0.0075), (0.0, m + 0.0065), (0.006, m + 0.0075),
                (0.016, m + 0.005), (0.024, m), (0.016, m - 0.0065), (0.006, m - 0.0095), (0.0, m - 0.01),
                (-0.006, m - 0.0095), (-0.016, m - 0.0065)]
    lips_in = [(-0.02, m + 0.0008), (-0.008, m + 0.0012), (0.0, m + 0.0012), (0.008, m + 0.0012), (0.02, m + 0.0008),
               (0.008, m - 0.0012), (0.0, m - 0.0012), (-0.008, m - 0.0012)]
    xy = brow_r + brow_l + bridge + nostrils + eye_r + eye_l + lips_out + lips_in
    return np.array(xy)


def _locate(head: _HeadInfo, theta: float, phi: float) -> tuple[int, np.ndarray]:
    """Head face (index in the head block) and barycentric coords of the surface point at (theta, phi)."""
    th = head.theta  # descending: bottom row first
    i = int(np.clip(np.searchsorted(-th, -theta, side="right") - 1, 0, len(th) - 2))
    s = float(np.clip((th[i] - theta) / (th[i] - th[i + 1]), 0.0, 1.0))
    ph = np.append(head.phi, 2 * np.pi)
    p = phi % (2 * np.pi)
    j = int(np.clip(np.searchsorted(ph, p, side="right") - 1, 0, S_HEAD - 1))
    r = float(np.clip((p - ph[j]) / (ph[j + 1] - ph[j]), 0.0, 1.0))
    if r + s <= 1.0:
        return int(head.face_of_cell[i, j, 0]), np.array([1.0 - r - s, r, s])
    return int(head.face_of_cell[i, j, 1]), np.array([1.0 - s, r + s - 1.0, 1.0 - r])


def _static_landmarks(b: _Built) -> tuple[np.ndarray, np.ndarray]:
    """(51,) face ids and (51, 3) barycentric coords of the static landmarks."""
    faces, bary = [], []
    xy = _static_landmark_targets()
    for theta, phi in zip(*_surface_angles(xy[:, 0], xy[:, 1])):
        f, w = _locate(b.head, float(theta), float(phi))
        faces.append(b.head_faces.start + f)
        bary.append(w)
    return np.array(faces, dtype=np.int64), np.array(bary)


def _jaw_line_point(b: _Built, phi: float) -> tuple[float, float]:
    """(theta, phi) of the jaw line at azimuth phi: chin at the front rising to below the ear lobe."""
    target_y = 0.262 + 0.058 * (min(abs(phi), np.radians(80.0)) / np.radians(80.0)) ** 1.5
    # walk down the head at this azimuth from the lip line and stop where the surface reaches target_y
    th = b.head.theta
    rows = np.arange(b.head.mouth_row, -1, -1)
    cols = b.head.phi
    p = phi % (2 * np.pi)
    j = int(np.searchsorted(cols, p, side="right") - 1) % S_HEAD
    j1 = (j + 1) % S_HEAD
    span = (cols[j1] if j1 else 2 * np.pi) - cols[j]
    r = (p - cols[j]) / span
    ys = (1 - r) * b.verts[b.head.gid[rows, j], 1] + r * b.verts[b.head.gid[rows, j1], 1]
    k = int(np.argmax(ys <= target_y))
    if k == 0:
        return float(th[rows[0]]), phi
    t = (ys[k - 1] - target_y) / max(ys[k - 1] - ys[k], 1e-9)
    return float(th[rows[k - 1]] + t * (th[rows[k]] - th[rows[k - 1]])), phi


def _dynamic_landmarks(b: _Built) -> tuple[np.ndarray, np.ndarray]:
    """(79, 17) contour faces and (79, 17, 3) bary coords; bin b is the neck yaw smplx rounds to it.

    smplx maps a head turned by yaw a (degrees, a = -euler_y) to bin a for a in 0..39 and 39 - a for
    a in -39..-1.  A turn lets the camera see further round one cheek, so the contour there slides
    backwards while the far side stays clear of the silhouette.
    """
    faces = np.zeros((79, 17), dtype=np.int64)
    bary = np.zeros((79, 17, 3))
    for bin_ in range(79):
        yaw = bin_ if bin_ <= 39 else 39 - bin_
        lo, hi = max(-80.0, yaw - 80.0), min(80.0, yaw + 80.0)
        for k, ph in enumerate(np.linspace(lo, hi, 17)):
            f, w = _locate(b.head, *_jaw_line_point(b, np.radians(ph)))
            faces[bin_, k] = b.head_faces.start + f
            bary[bin_, k] = w
    return faces, bary
