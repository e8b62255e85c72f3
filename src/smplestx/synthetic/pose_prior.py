"""A hand-written prior over SMPL-X parameters: activities (walking, arm motion, bending, crouching, sitting),
any heading including back-facing, shapes, hand poses and expressions.

Joint conventions of the SMPL-X rest pose (y up, facing +z): a positive rotation about x bends the spine
forward and the knees backwards, a negative one swings a hip (or a lowered arm) forwards; the left arm points
along +x and is lowered by a negative rotation about z (the right arm by a positive one).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Body-pose rows (SMPL-X joints 1..21, pelvis excluded).
L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = range(9)
NECK, L_COLLAR, R_COLLAR, HEAD, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = range(11, 21)
#: Activities and how often each is drawn.
ACTIVITIES: dict[str, float] = {"walk": 0.35, "arms": 0.2, "bend": 0.15, "crouch": 0.1, "sit": 0.12, "free": 0.08}
#: Turns the model's y-up, +z-facing rest pose into the OpenCV camera frame, facing the camera.
FACING = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
_FINGER_ROWS = np.arange(12)  # index, middle, little, ring (3 joints each); the thumb is rows 12-14


def rodrigues(aa: np.ndarray | list[float]) -> np.ndarray:
    """Axis-angle (3,) -> rotation matrix (3, 3), float64."""
    return cv2.Rodrigues(np.asarray(aa, dtype=np.float64).reshape(3, 1))[0]


def axis_angle(mat: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) -> axis-angle (3,)."""
    return cv2.Rodrigues(np.asarray(mat, dtype=np.float64))[0].reshape(3)


def _arm(down: float, swing: float, twist: float, left: bool) -> np.ndarray:
    """Shoulder axis-angle: lower the arm from the T-pose by ``down``, then swing it forwards by ``swing``."""
    sign = -1.0 if left else 1.0
    return axis_angle(rodrigues([-swing, 0.0, 0.0]) @ rodrigues([0.0, twist, 0.0]) @ rodrigues([0.0, 0.0, sign * down]))


def _set_arms(body: np.ndarray, rng: np.random.Generator, down: np.ndarray, swing: np.ndarray,
              elbow: np.ndarray) -> None:
    for k, (shoulder, el, left) in enumerate(((L_SHOULDER, L_ELBOW, True), (R_SHOULDER, R_ELBOW, False))):
        body[shoulder] = _arm(down[k], swing[k], rng.normal(0.0, 0.2), left)
        body[el, 1] = (-1.0 if left else 1.0) * elbow[k]


def _legs(body: np.ndarray, hip: np.ndarray, knee: np.ndarray, rng: np.random.Generator) -> None:
    body[[L_HIP, R_HIP], 0] = -hip
    body[[L_HIP, R_HIP], 2] += rng.normal(0.0, 0.08, 2) + np.array([0.05, -0.05])  # legs a little apart
    body[[L_KNEE, R_KNEE], 0] = knee
    body[[L_ANKLE, R_ANKLE], 0] += rng.normal(0.0, 0.12, 2)


def random_body_pose(rng: np.random.Generator, activity: str | None = None) -> np.ndarray:
    """(21, 3) body pose of one drawn (or the given) activity, with noise on every joint."""
    if activity is None:
        names = list(ACTIVITIES)
        p = np.array([ACTIVITIES[n] for n in names])
        activity = names[int(rng.choice(len(names), p=p / p.sum()))]
    body = rng.normal(0.0, 0.05, (21, 3))
    hang = rng.uniform(1.1, 1.45, 2)  # arms hanging at the sides
    if activity == "walk":
        phase, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.6)
        s = np.sin(phase)
        knee = np.clip(rng.uniform(0.0, 0.3, 2) + amp * rng.uniform(0.3, 1.5, 2), 0.0, 1.4)
        _legs(body, np.array([amp * s, -amp * s]) + 0.05, knee, rng)
        _set_arms(body, rng, hang, np.array([-amp * s, amp * s]) * 0.8, rng.uniform(0.0, 0.7, 2))
    elif activity == "arms":
        _legs(body, rng.uniform(-0.1, 0.3, 2), rng.uniform(0.0, 0.4, 2), rng)
        _set_arms(body, rng, rng.uniform(-0.4, 1.45, 2), rng.uniform(-0.6, 1.6, 2), rng.uniform(0.0, 2.2, 2))
    elif activity == "bend":
        bend = rng.uniform(0.3, 1.4)
        body[[SPINE1, SPINE2, SPINE3], 0] += bend * np.array([0.4, 0.3, 0.3])
        _legs(body, np.full(2, rng.uniform(0.0, 0.8)), rng.uniform(0.0, 0.3, 2), rng)
        _set_arms(body, rng, rng.uniform(0.6, 1.45, 2), rng.uniform(0.0, 1.2, 2), rng.uniform(0.0, 1.2, 2))
    elif activity == "crouch":
        depth = rng.uniform(0.6, 1.0)
        _legs(body, np.full(2, 2.0 * depth) + rng.normal(0, 0.15, 2), np.full(2, 2.3 * depth) + rng.normal(0, 0.15, 2), rng)
        body[[L_ANKLE, R_ANKLE], 0] += 0.4 * depth
        body[[SPINE1, SPINE2, SPINE3], 0] += rng.uniform(0.0, 0.4) * np.array([0.4, 0.3, 0.3])
        _set_arms(body, rng, rng.uniform(0.7, 1.4, 2), rng.uniform(0.0, 1.4, 2), rng.uniform(0.0, 1.8, 2))
    elif activity == "sit":
        _legs(body, rng.uniform(1.2, 1.7, 2), rng.uniform(1.1, 1.8, 2), rng)
        body[[SPINE1, SPINE2, SPINE3], 0] += rng.uniform(-0.2, 0.4) * np.array([0.4, 0.3, 0.3])
        _set_arms(body, rng, rng.uniform(0.8, 1.45, 2), rng.uniform(0.0, 1.2, 2), rng.uniform(0.0, 1.8, 2))
    else:  # free: anything within wide joint limits
        _legs(body, rng.uniform(-0.5, 1.6, 2), rng.uniform(0.0, 2.0, 2), rng)
        body[[L_HIP, R_HIP], 2] += rng.uniform(-0.2, 0.6, 2) * np.array([1.0, -1.0])
        body[[SPINE1, SPINE2, SPINE3]] += rng.normal(0.0, 0.2, (3, 3))
        _set_arms(body, rng, rng.uniform(-0.8, 1.45, 2), rng.uniform(-0.8, 2.0, 2), rng.uniform(0.0, 2.3, 2))
    # Everyone: a twisting / leaning trunk, a turned head, wrists and collars.
    body[[SPINE1, SPINE2, SPINE3], 1] += rng.normal(0.0, 0.12, 3)
    body[[SPINE1, SPINE2, SPINE3], 2] += rng.normal(0.0, 0.06, 3)
    body[[NECK, HEAD]] += rng.normal(0.0, 0.15, (2, 3)) * np.array([1.0, 2.0, 0.7])
    body[[L_WRIST, R_WRIST]] += rng.normal(0.0, 0.3, (2, 3))
    body[[L_COLLAR, R_COLLAR], 2] += rng.normal(0.0, 0.08, 2)
    return body


def random_hand_pose(rng: np.random.Generator, left: bool) -> np.ndarray:
    """(15, 3) hand pose (``flat_hand_mean=False``: zero is the relaxed mean hand): from open to a fist."""
    hand = rng.normal(0.0, 0.12, (15, 3))
    curl = rng.uniform(-0.35, 1.2) + rng.normal(0.0, 0.2, 12)
    hand[_FINGER_ROWS, 2] += (-1.0 if left else 1.0) * curl
    hand[12:] += rng.normal(0.0, 0.25, (3, 3))
    return hand


def random_orientation(rng: np.random.Generator) -> np.ndarray:
    """Camera-frame global orientation (axis-angle): any heading (back-facing too), some tilt and roll."""
    yaw, pitch, roll = rng.uniform(-np.pi, np.pi), rng.normal(0.0, 0.12), rng.normal(0.0, 0.08)
    return axis_angle(rodrigues([0.0, 0.0, roll]) @ rodrigues([pitch, 0.0, 0.0]) @ rodrigues([0.0, yaw, 0.0]) @ FACING)


def random_smplx_params(rng: np.random.Generator, activity: str | None = None) -> dict[str, np.ndarray]:
    """One person's random SMPL-X parameters (camera-frame orientation, no translation)."""
    jaw = np.array([rng.uniform(0.0, 0.45), rng.normal(0.0, 0.04), rng.normal(0.0, 0.04)])
    return {
        "global_orient": random_orientation(rng),
        "body_pose": random_body_pose(rng, activity),
        "betas": np.clip(rng.normal(0.0, 1.1, 10), -2.5, 2.5),
        "left_hand_pose": random_hand_pose(rng, True),
        "right_hand_pose": random_hand_pose(rng, False),
        "jaw_pose": jaw,
        "expression": np.clip(rng.normal(0.0, 1.0, 10), -2.5, 2.5),
    }


__all__ = ["ACTIVITIES", "FACING", "axis_angle", "random_body_pose", "random_hand_pose", "random_orientation",
           "random_smplx_params", "rodrigues"]
