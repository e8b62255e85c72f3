"""Vertex order and the evaluation vertex-id sets (FLAME, MANO) of the mannequin."""

from __future__ import annotations

import numpy as np

from .assembly import _Built
from .mesh_blocks import _RID
from .skeleton import FINGERS, NUM_FLAME, NUM_MANO, NUM_VERTICES, VERTEX_IDS
from .skinning import _side_joints

_SPECIAL_TO_SMPLX = {
    "nose": "nose", "leye": "leye", "reye": "reye", "lear": "lear", "rear": "rear",
    "lbigtoe": "LBigToe", "lsmalltoe": "LSmallToe", "lheel": "LHeel",
    "rbigtoe": "RBigToe", "rsmalltoe": "RSmallToe", "rheel": "RHeel",
    "lthumb": "lthumb", "lindex": "lindex", "lmiddle": "lmiddle", "lring": "lring", "lpinky": "lpinky",
    "rthumb": "rthumb", "rindex": "rindex", "rmiddle": "rmiddle", "rring": "rring", "rpinky": "rpinky",
}


def _permutation(special: dict[str, int]) -> np.ndarray:
    """order[new_id] = construction index, so that each special vertex lands on its SMPL-X id."""
    order = np.arange(NUM_VERTICES)
    where = np.arange(NUM_VERTICES)  # where[construction index] = current new id
    for name, smplx_name in _SPECIAL_TO_SMPLX.items():
        src, dst = special[name], VERTEX_IDS[smplx_name]
        pos = where[src]
        other = order[dst]
        order[dst], order[pos] = src, other
        where[src], where[other] = dst, pos
    return order


def _flame_ids(b: _Built) -> np.ndarray:
    """The 5023 head and eye vertices, leaving out the lowest ones (under the chin, by the neck)."""
    ids = np.nonzero(b.component > 0)[0]
    keep = np.argsort(-b.verts[ids, 1], kind="stable")[:NUM_FLAME]
    return np.sort(ids[keep])


def _mano_ids(b: _Built, side: str, joints: np.ndarray) -> np.ndarray:
    """The 778 hand vertices farthest from the wrist (all five fingers and the distal palm)."""
    names = [f"palm_{side}"] + [f"{n}_{side}" for n in FINGERS]
    ids = np.nonzero(np.isin(b.region, [_RID[n] for n in names]))[0]
    wrist = joints[_side_joints(side)["wrist"]]
    d = np.abs(b.verts[ids, 0] - wrist[0])
    keep = np.argsort(-d, kind="stable")[:NUM_MANO]
    return np.sort(ids[keep])
