"""Plain records that flow from the estimator to the writers: people per frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Person:
    """One detected person in one frame, in full-image pixels and the full-image camera.

    Arrays are float32 numpy. Rotations are axis-angle (radians); 3D positions are metres
    in the camera frame (OpenCV: x right, y down, z forward); the camera is a pinhole with
    ``focal`` and ``princpt`` in pixels of the original image and no distortion.
    """

    box_xyxy: np.ndarray  # (4,) detector box in image pixels
    score: float  # detector confidence in [0, 1] (1.0 for user boxes without a score)
    track_id: int  # -1 when not tracked
    crop_box_xywh: np.ndarray  # (4,) the processed (aspect 3:4, x1.2) box the crop was taken from
    global_orient: np.ndarray  # (3,)
    body_pose: np.ndarray  # (21, 3)
    left_hand_pose: np.ndarray  # (15, 3)
    right_hand_pose: np.ndarray  # (15, 3)
    jaw_pose: np.ndarray  # (3,)
    betas: np.ndarray  # (10,)
    expression: np.ndarray  # (10,)
    transl: np.ndarray  # (3,) metres, camera frame
    focal: np.ndarray  # (2,) fx, fy in image pixels
    princpt: np.ndarray  # (2,) cx, cy in image pixels
    joints_3d: np.ndarray  # (137, 3) metres, camera frame
    joints_2d: np.ndarray  # (137, 2) image pixels
    vertices: np.ndarray | None = None  # (10475, 3) metres, camera frame; only when asked for
    # SMPLer-X only (None for SMPLest-X): predicted part boxes x1, y1, x2, y2 in image pixels.
    lhand_box: np.ndarray | None = None  # (4,)
    rhand_box: np.ndarray | None = None  # (4,)
    face_box: np.ndarray | None = None  # (4,)


@dataclass
class FrameResult:
    """All people of one frame (possibly none)."""

    index: int  # frame number in the source (0-based; for images 0)
    time_s: float  # presentation time in seconds (0 for images)
    width: int
    height: int
    people: list[Person] = field(default_factory=list)
