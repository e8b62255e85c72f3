"""Joint sets: sizes, names, flip pairs, parts and the 137 -> 144 index map."""

from __future__ import annotations

import dataclasses
import re

import pytest

from smplestx.body import SMPLX_65, SMPLX_137, SMPLX_144_NAMES, SMPLX_ORIG_53, JointSet


def to_smplx_name(name: str) -> str:
    """Map the reference's joint names ('L_Thumb_4', 'Spine_1', 'L_Big_toe') to smplx's ('left_thumb', ...)."""
    side = {"L": "left_", "R": "right_"}
    m = re.fullmatch(r"([LR])_(Thumb|Index|Middle|Ring|Pinky)_([1-4])", name)
    if m:
        return side[m[1]] + m[2].lower() + ("" if m[3] == "4" else m[3])
    m = re.fullmatch(r"Spine_([1-3])", name)
    if m:
        return f"spine{m[1]}"
    m = re.fullmatch(r"([LR])_(.*)", name)
    if m:
        return side[m[1]] + m[2].lower()
    return name.lower()


def test_sizes_and_unique_names() -> None:
    assert len(SMPLX_ORIG_53) == SMPLX_ORIG_53.num_joints == 53
    assert len(SMPLX_137) == 137 and len(SMPLX_65) == 65 and len(SMPLX_144_NAMES) == 144
    for names in (SMPLX_ORIG_53.names, SMPLX_137.names, SMPLX_144_NAMES):
        assert len(set(names)) == len(names)
    assert SMPLX_ORIG_53.names[:3] == ("Pelvis", "L_Hip", "R_Hip") and SMPLX_ORIG_53.names[-1] == "Jaw"
    assert SMPLX_ORIG_53.names[22] == "L_Index_1" and SMPLX_ORIG_53.names[36] == "L_Thumb_3"
    assert SMPLX_ORIG_53.names[37] == "R_Index_1" and SMPLX_ORIG_53.names[51] == "R_Thumb_3"


def test_special_indices() -> None:
    assert (SMPLX_ORIG_53.root, SMPLX_ORIG_53.lwrist, SMPLX_ORIG_53.rwrist, SMPLX_ORIG_53.neck) == (0, 20, 21, 12)
    assert (SMPLX_137.root, SMPLX_137.lwrist, SMPLX_137.rwrist, SMPLX_137.neck) == (0, 12, 13, 7)
    assert SMPLX_137.index("Nose") == 24


@pytest.mark.parametrize("joint_set", [SMPLX_ORIG_53, SMPLX_137, SMPLX_65], ids=["53", "137", "65"])
def test_parts_partition_the_set(joint_set: JointSet) -> None:
    covered = sorted(i for name, r in joint_set.parts.items() if name != "hand" for i in r)
    assert covered == list(range(len(joint_set)))
    if "hand" in joint_set.parts:
        assert list(joint_set.parts["hand"]) == list(joint_set.parts["lhand"]) + list(joint_set.parts["rhand"])


@pytest.mark.parametrize("joint_set", [SMPLX_ORIG_53, SMPLX_137, SMPLX_65], ids=["53", "137", "65"])
def test_flip_pairs_are_left_right(joint_set: JointSet) -> None:
    seen: set[int] = set()
    face = set(joint_set.parts.get("face", ()))
    for a, b in joint_set.flip_pairs:
        assert 0 <= a < b < len(joint_set) and a not in seen and b not in seen
        seen |= {a, b}
        na, nb = joint_set.names[a], joint_set.names[b]
        if a in face:
            assert b in face  # face keypoints are named Face_i, mirrored by index
        else:
            assert na.startswith("L_") and nb.startswith("R_") and na[2:] == nb[2:], (na, nb)


def test_flip_pair_counts() -> None:
    assert len(SMPLX_ORIG_53.flip_pairs) == 8 + 15
    assert len(SMPLX_137.flip_pairs) == 11 + 20 + 1 + 5 + 2 + 6 + 5 + 3 + 8
    assert SMPLX_137.flip_pairs[-1] == (127, 129) and (120, 136) in SMPLX_137.flip_pairs


def test_137_index_names_match_144_outputs() -> None:
    idx = SMPLX_137.index_in_144
    assert len(idx) == 137 and all(0 <= i < 144 for i in idx)
    for i in range(65):  # body and hands
        assert SMPLX_144_NAMES[idx[i]] == to_smplx_name(SMPLX_137.names[i]), SMPLX_137.names[i]
    face = [SMPLX_144_NAMES[i] for i in idx[65:]]
    assert face[:4] == ["jaw", "head", "left_eye", "right_eye"]
    assert list(idx[69:]) == list(range(76, 144))
    assert SMPLX_65.index_in_144 == idx[:65] and SMPLX_65.names == SMPLX_137.names[:65]


def test_53_index_names_match_144_outputs() -> None:
    for name, i in zip(SMPLX_ORIG_53.names, SMPLX_ORIG_53.index_in_144):
        assert SMPLX_144_NAMES[i] == to_smplx_name(name), name


def test_144_names_match_smplx() -> None:
    joint_names = pytest.importorskip("smplx.joint_names")
    assert SMPLX_144_NAMES == tuple(joint_names.JOINT_NAMES[:144])


def test_joint_sets_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SMPLX_137.root = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        SMPLX_137.parts["body"] = range(3)  # type: ignore[index]
    assert hash(SMPLX_137) == hash(SMPLX_137) and SMPLX_137 == SMPLX_137
    assert list(SMPLX_137.parts["face"]) == list(range(65, 137))
