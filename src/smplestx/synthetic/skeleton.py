"""Sizes, skeleton and rest joints of the synthetic SMPL-X mannequin (metres, y up, facing +z)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_VERTICES = 10475
NUM_FACES = 20908
NUM_JOINTS = 55
NUM_SHAPE = 10
NUM_EXPR = 10
NUM_FLAME = 5023
NUM_MANO = 778

#: True SMPL-X kinematic tree (parent of each of the 55 joints; -1 for the root).
PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
     20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
     21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53],
    dtype=np.int64,
)

#: Vertex ids that smplx / SMPLest-X read directly off the mesh (smplx ``vertex_ids['smplx']``).
VERTEX_IDS: dict[str, int] = {
    "nose": 9120, "reye": 9929, "leye": 9448, "rear": 616, "lear": 6,
    "LBigToe": 5770, "LSmallToe": 5780, "LHeel": 8846,
    "RBigToe": 8463, "RSmallToe": 8474, "RHeel": 8635,
    "lthumb": 5361, "lindex": 4933, "lmiddle": 5058, "lring": 5169, "lpinky": 5286,
    "rthumb": 8079, "rindex": 7669, "rmiddle": 7794, "rring": 7905, "rpinky": 8022,
}

#: Finger order of the SMPL-X hand joints (three joints each, starting at joint 25 / 40).
FINGERS = ("index", "middle", "pinky", "ring", "thumb")

#: LSP-14 joints of ``SMPLX_to_J14.pkl`` and the SMPL-X joint each one sits on (head top handled apart).
J14_NAMES = ("R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "R_Wrist", "R_Elbow",
             "R_Shoulder", "L_Shoulder", "L_Elbow", "L_Wrist", "Neck", "Head_top")
_J14_JOINTS = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, -1)

FLOOR_Y = -1.22  # soles of the neutral mannequin (m); the head top is at about +0.48

# Left-side and midline joints; right-side joints are their mirror images (x -> -x).
_LEFT_JOINTS: dict[int, tuple[float, float, float]] = {
    0: (0.0, -0.335, 0.005),
    1: (0.078, -0.425, 0.0),
    3: (0.0, -0.215, -0.02),
    4: (0.092, -0.79, 0.008),
    6: (0.0, -0.08, -0.018),
    7: (0.088, -1.135, -0.035),
    9: (0.0, -0.02, -0.01),
    10: (0.098, -1.197, 0.088),
    12: (0.0, 0.165, -0.022),
    13: (0.07, 0.095, -0.018),
    15: (0.0, 0.265, -0.008),
    16: (0.178, 0.105, -0.022),
    18: (0.44, 0.09, -0.03),
    20: (0.695, 0.085, -0.025),
    22: (0.0, 0.325, 0.008),
    23: (0.032, 0.371, 0.071),
}
_MIRROR_OF = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 23: 24}

EYE_RADIUS = 0.0125
EYE_ROWS, EYE_COLS = 8, 12
HEAD_CENTER = np.array([0.0, 0.36, 0.0])
MOUTH_Y = 0.2985  # height of the lip line (mouth slit)


@dataclass(frozen=True)
class _Finger:
    """Rest geometry of one finger of the left hand (relative to the wrist joint)."""

    name: str
    base: tuple[float, float, float]  # first joint (MCP; CMC for the thumb)
    direction: tuple[float, float, float]
    lengths: tuple[float, float, float]  # joint1->joint2, joint2->joint3, joint3->tip
    radius: float  # proximal half-width of the finger
    palm_z: float = 0.0  # centre of the finger's slot in the palm (z, relative to the wrist)
    palm_hw: float = 0.0  # half-width of that slot


_FINGERS: dict[str, _Finger] = {
    "index": _Finger("index", base=(0.091, -0.003, 0.026), direction=(1.0, 0.0, 0.06),
                     lengths=(0.040, 0.024, 0.022), radius=0.0098, palm_z=0.026, palm_hw=0.0082),
    "middle": _Finger("middle", base=(0.095, -0.002, 0.0065), direction=(1.0, 0.0, 0.0),
                      lengths=(0.044, 0.028, 0.024), radius=0.0102, palm_z=0.0065, palm_hw=0.0086),
    "pinky": _Finger("pinky", base=(0.082, -0.004, -0.032), direction=(1.0, 0.0, -0.12),
                     lengths=(0.032, 0.020, 0.021), radius=0.0086, palm_z=-0.032, palm_hw=0.0072),
    "ring": _Finger("ring", base=(0.090, -0.003, -0.0125), direction=(1.0, 0.0, -0.05),
                    lengths=(0.041, 0.026, 0.023), radius=0.0096, palm_z=-0.0125, palm_hw=0.0082),
    # the thumb leaves the palm forwards (+z) and down; its slot in the palm is _THUMB_HOLE
    "thumb": _Finger("thumb", base=(0.022, -0.014, 0.024), direction=(0.55, -0.28, 0.79),
                     lengths=(0.044, 0.032, 0.027), radius=0.0125),
}
_THUMB_BEND = (0.62, -0.2, 0.76)  # direction of the two distal thumb segments


def _unit(v: np.ndarray) -> np.ndarray:
    """Vectors scaled to unit length along the last axis."""
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _finger_points(f: _Finger) -> np.ndarray:
    """(4, 3) joint1, joint2, joint3 and tip of a left-hand finger, relative to the wrist."""
    p0 = np.array(f.base)
    d1 = _unit(np.array(f.direction))
    d2 = _unit(np.array(_THUMB_BEND)) if f.name == "thumb" else d1
    p1 = p0 + f.lengths[0] * d1
    p2 = p1 + f.lengths[1] * d2
    p3 = p2 + f.lengths[2] * d2
    return np.stack([p0, p1, p2, p3])


def rest_joints() -> np.ndarray:
    """(55, 3) rest joint positions of the neutral mannequin."""
    j = np.zeros((NUM_JOINTS, 3))
    for k, p in _LEFT_JOINTS.items():
        j[k] = p
    for left, right in _MIRROR_OF.items():
        j[right] = j[left] * (-1.0, 1.0, 1.0)
    wrist = j[20]
    for fi, name in enumerate(FINGERS):
        pts = _finger_points(_FINGERS[name])
        j[25 + 3 * fi: 28 + 3 * fi] = wrist + pts[:3]
        j[40 + 3 * fi: 43 + 3 * fi] = (wrist + pts[:3]) * (-1.0, 1.0, 1.0)
    return j


def _finger_tips() -> dict[str, np.ndarray]:
    """Rest finger-tip points of the left hand by finger name."""
    wrist = np.array(_LEFT_JOINTS[20])
    return {name: wrist + _finger_points(_FINGERS[name])[3] for name in FINGERS}
