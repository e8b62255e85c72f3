"""SMPL-X joint sets as data: 53 parameter joints, 137 SMPLest-X supervision joints, 144 layer outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

_SIDES = (("L", "left"), ("R", "right"))
#: Finger order of the SMPL-X kinematic tree (and of its hand pose parameters).
_SMPLX_FINGERS = ("Index", "Middle", "Pinky", "Ring", "Thumb")
#: Finger order of the MANO-style 21-joint hands of the supervision set.
_MANO_FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")

_BODY_22 = (
    "Pelvis", "L_Hip", "R_Hip", "Spine_1", "L_Knee", "R_Knee", "Spine_2", "L_Ankle", "R_Ankle", "Spine_3",
    "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow",
    "R_Elbow", "L_Wrist", "R_Wrist",
)


def _hand_names(side: str, fingers: tuple[str, ...], phalanges: int) -> tuple[str, ...]:
    return tuple(f"{side}_{f}_{i}" for f in fingers for i in range(1, phalanges + 1))


@dataclass(frozen=True)
class JointSet:
    """A named joint set: names, left/right flip pairs, part ranges, root index, optional index into the 144 outputs."""

    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    parts: Mapping[str, range] = field(hash=False)
    root: int = 0
    #: For each joint, its index in the layer's 144 output joints (empty when the set is not a selection of them).
    index_in_144: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # Freeze the part table so the set can be shared safely.
        object.__setattr__(self, "parts", MappingProxyType(dict(self.parts)))
        if self.index_in_144 and len(self.index_in_144) != len(self.names):
            raise ValueError("index_in_144 must have one entry per joint")

    @property
    def num_joints(self) -> int:
        """Number of joints in the set."""
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of a joint by name."""
        return self.names.index(name)

    @property
    def lwrist(self) -> int:
        """Index of the left wrist."""
        return self.names.index("L_Wrist")

    @property
    def rwrist(self) -> int:
        """Index of the right wrist."""
        return self.names.index("R_Wrist")

    @property
    def neck(self) -> int:
        """Index of the neck."""
        return self.names.index("Neck")

    def __len__(self) -> int:
        return len(self.names)


# ---------------------------------------------------------------------------------------------------------------
# The 53 joints of the SMPL-X pose parameters as SMPLest-X orders them: 22 body, 15 left hand, 15 right hand, jaw.

_ORIG_53_NAMES = (
    _BODY_22 + _hand_names("L", _SMPLX_FINGERS, 3) + _hand_names("R", _SMPLX_FINGERS, 3) + ("Jaw",)
)

SMPLX_ORIG_53 = JointSet(
    names=_ORIG_53_NAMES,
    flip_pairs=((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21))
    + tuple((22 + i, 37 + i) for i in range(15)),
    parts={"body": range(0, 22), "lhand": range(22, 37), "rhand": range(37, 52), "face": range(52, 53)},
    root=0,
    # In the 55 kinematic joints the jaw (22) and eyes (23, 24) sit between the body and the hands.
    index_in_144=tuple(range(22)) + tuple(range(25, 55)) + (22,),
)


# ---------------------------------------------------------------------------------------------------------------
# The 144 output joints of the layer (smplx 0.1.28 order with face contour): 55 kinematic joints, 21 joints taken
# from vertices, 51 static face landmarks, 17 face-contour landmarks.

_KINEMATIC_55 = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw", "left_eye_smplhf",
    "right_eye_smplhf",
) + tuple(
    f"{side}_{finger.lower()}{i}" for _, side in _SIDES for finger in _SMPLX_FINGERS for i in (1, 2, 3)
)
_VERTEX_21 = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
) + tuple(f"{side}_{finger.lower()}" for _, side in _SIDES for finger in _MANO_FINGERS)
_STATIC_LANDMARKS_51 = (
    tuple(f"right_eye_brow{i}" for i in range(1, 6)) + tuple(f"left_eye_brow{i}" for i in range(5, 0, -1))
    + ("nose1", "nose2", "nose3", "nose4", "right_nose_2", "right_nose_1", "nose_middle", "left_nose_1",
       "left_nose_2")
    + tuple(f"right_eye{i}" for i in range(1, 7)) + ("left_eye4", "left_eye3", "left_eye2", "left_eye1",
                                                      "left_eye6", "left_eye5")
    + ("right_mouth_1", "right_mouth_2", "right_mouth_3", "mouth_top", "left_mouth_3", "left_mouth_2",
       "left_mouth_1", "left_mouth_5", "left_mouth_4", "mouth_bottom", "right_mouth_4", "right_mouth_5")
    + ("right_lip_1", "right_lip_2", "lip_top", "left_lip_2", "left_lip_1", "left_lip_3", "lip_bottom",
       "right_lip_3")
)
_CONTOUR_17 = (
    tuple(f"right_contour_{i}" for i in range(1, 9)) + ("contour_middle",)
    + tuple(f"left_contour_{i}" for i in range(8, 0, -1))
)

#: Names of the 144 joints returned by :class:`smplestx.body.BodyModel` (127 without the face contour).
SMPLX_144_NAMES: tuple[str, ...] = _KINEMATIC_55 + _VERTEX_21 + _STATIC_LANDMARKS_51 + _CONTOUR_17
#: Where each group starts in the 144 outputs.
NUM_KINEMATIC_JOINTS = 55
VERTEX_JOINTS_START = 55
STATIC_LANDMARKS_START = 76
CONTOUR_LANDMARKS_START = 127


# ---------------------------------------------------------------------------------------------------------------
# The 137-joint supervision set of SMPLest-X: 25 body, 2 x 20 hand (MANO order, 4th joint = finger tip),
# 72 face points (jaw, head, eyeballs, 51 static landmarks, 17 contour landmarks).

_BODY_25 = (
    "Pelvis", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Neck", "L_Shoulder", "R_Shoulder",
    "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Big_toe", "L_Small_toe", "L_Heel", "R_Big_toe",
    "R_Small_toe", "R_Heel", "L_Ear", "R_Ear", "L_Eye", "R_Eye", "Nose",
)
_HAND_40 = _hand_names("L", _MANO_FINGERS, 4) + _hand_names("R", _MANO_FINGERS, 4)
_FACE_72 = tuple(f"Face_{i}" for i in range(1, 73))

_INDEX_137_IN_144 = (
    # body
    0, 1, 2, 4, 5, 7, 8, 12, 16, 17, 18, 19, 20, 21, 60, 61, 62, 63, 64, 65, 59, 58, 57, 56, 55,
    # left hand: thumb, index, middle, ring, pinky (three kinematic joints, then the finger-tip vertex)
    37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70,
    # right hand
    52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75,
    # face: jaw, head, eyeballs (the eye vertex joints), then landmarks 76..143
    22, 15, 57, 56,
) + tuple(range(76, 144))

_FLIP_137 = (
    # body
    (1, 2), (3, 4), (5, 6), (8, 9), (10, 11), (12, 13), (14, 17), (15, 18), (16, 19), (20, 21), (22, 23),
    # hands
    *((25 + i, 45 + i) for i in range(20)),
    # face: eyeballs
    (67, 68),
    # eyebrows
    (69, 78), (70, 77), (71, 76), (72, 75), (73, 74),
    # below the nose
    (83, 87), (84, 86),
    # eyes
    (88, 97), (89, 96), (90, 95), (91, 94), (92, 99), (93, 98),
    # mouth
    (100, 106), (101, 105), (102, 104), (107, 111), (108, 110),
    # lips
    (112, 116), (113, 115), (117, 119),
    # contour
    (120, 136), (121, 135), (122, 134), (123, 133), (124, 132), (125, 131), (126, 130), (127, 129),
)

SMPLX_137 = JointSet(
    names=_BODY_25 + _HAND_40 + _FACE_72,
    flip_pairs=_FLIP_137,
    parts={
        "body": range(0, 25),
        "lhand": range(25, 45),
        "rhand": range(45, 65),
        "hand": range(25, 65),
        "face": range(65, 137),
    },
    root=0,
    index_in_144=_INDEX_137_IN_144,
)

#: The 65 body + hand joints of the 137 set that the reference's PositionNet predicts (its first 65 joints).
SMPLX_65 = JointSet(
    names=SMPLX_137.names[:65],
    flip_pairs=tuple(p for p in _FLIP_137 if p[1] < 65),
    parts={"body": range(0, 25), "lhand": range(25, 45), "rhand": range(45, 65), "hand": range(25, 65)},
    root=0,
    index_in_144=_INDEX_137_IN_144[:65],
)

__all__ = [
    "JointSet",
    "SMPLX_ORIG_53",
    "SMPLX_137",
    "SMPLX_65",
    "SMPLX_144_NAMES",
    "NUM_KINEMATIC_JOINTS",
    "VERTEX_JOINTS_START",
    "STATIC_LANDMARKS_START",
    "CONTOUR_LANDMARKS_START",
]
