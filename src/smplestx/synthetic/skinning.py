"""Skinning weights of the mannequin."""

from __future__ import annotations

import numpy as np

from .assembly import _Built
from .head import _head_columns, MOUTH_SLIT
from .mesh_blocks import _RID, _smoothstep, REGIONS
from .skeleton import _finger_tips, FINGERS, HEAD_CENTER, MOUTH_Y, NUM_JOINTS

_FINGER_REGIONS = {f"{name}_{s}": (s, k) for s in "lr" for k, name in enumerate(FINGERS)}


def _side_joints(side: str) -> dict[str, int]:
    """SMPL-X joint indices of one side."""
    left = side == "l"
    return {"hip": 1 if left else 2, "knee": 4 if left else 5, "ankle": 7 if left else 8,
            "foot": 10 if left else 11, "collar": 13 if left else 14, "shoulder": 16 if left else 17,
            "elbow": 18 if left else 19, "wrist": 20 if left else 21, "eye": 23 if left else 24,
            "hand0": 25 if left else 40}


def _candidates(region: str) -> list[int]:
    """Joints whose bones may influence the vertices of a region."""
    if region == "torso":
        return [0, 3, 6, 9, 12, 13, 14, 16, 17, 1, 2, 15]
    if region == "head":
        return [15, 12]
    side = region[-1]
    j = _side_joints(side)
    if region.startswith("eye"):
        return [j["eye"]]
    if region.startswith("arm"):
        return [9, j["collar"], j["shoulder"], j["elbow"], j["wrist"]]
    if region.startswith("palm"):
        return [j["elbow"], j["wrist"]] + [j["hand0"] + 3 * k for k in range(5)] + [j["hand0"] + 13]
    if region in _FINGER_REGIONS:
        base = j["hand0"] + 3 * _FINGER_REGIONS[region][1]
        return [j["wrist"], base, base + 1, base + 2]
    if region.startswith("leg"):
        return [0, 3, j["hip"], j["knee"], j["ankle"]]
    if region.startswith("foot"):
        return [j["ankle"], j["foot"]]
    raise KeyError(region)


def _bones(joints: np.ndarray) -> np.ndarray:
    """(55, 2, 3) bone segment of each joint: the part of the body its rotation carries."""
    b = np.zeros((NUM_JOINTS, 2, 3))
    child = {3: 6, 6: 9, 9: 12, 12: 15, 13: 16, 14: 17, 16: 18, 17: 19, 18: 20, 19: 21,
             1: 4, 2: 5, 4: 7, 5: 8, 7: 10, 8: 11}
    for j, c in child.items():
        b[j] = joints[j], joints[c]
    b[0] = (0.0, -0.42, 0.0), joints[0]
    b[15] = joints[15], joints[15] + (0.0, 0.2, 0.0)
    for side in "lr":
        sj = _side_joints(side)
        sign = 1.0 if side == "l" else -1.0
        b[sj["wrist"]] = joints[sj["wrist"]], joints[sj["wrist"]] + (sign * 0.06, 0.0, 0.0)
        b[sj["foot"]] = joints[sj["foot"]], joints[sj["foot"]] + (0.0, 0.0, 0.09)
        b[sj["ankle"]] = joints[sj["ankle"]] + (0.0, -0.04, -0.05), joints[sj["foot"]]  # heel to ball
        tips = _finger_tips()
        for k, name in enumerate(FINGERS):
            j0 = sj["hand0"] + 3 * k
            tip = tips[name] * (sign, 1.0, 1.0)
            b[j0] = joints[j0], joints[j0 + 1]
            b[j0 + 1] = joints[j0 + 1], joints[j0 + 2]
            b[j0 + 2] = joints[j0 + 2], tip
    return b


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points (N, 3) to the segment a-b."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def _edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges (E, 2) of a triangle list."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def _smooth(values: np.ndarray, edges: np.ndarray, mask: np.ndarray, iters: int, lam: float = 0.5) -> np.ndarray:
    """Laplacian smoothing of per-vertex rows over mesh edges, only where ``mask`` is set."""
    n = len(values)
    deg = np.bincount(edges.ravel(), minlength=n).astype(np.float64)[:, None]
    out = values.copy()
    for _ in range(iters):
        acc = np.zeros_like(out)
        np.add.at(acc, edges[:, 0], out[edges[:, 1]])
        np.add.at(acc, edges[:, 1], out[edges[:, 0]])
        avg = acc / np.maximum(deg, 1)
        out[mask] = (1 - lam) * out[mask] + lam * avg[mask]
    return out


def _jaw_weight(v: np.ndarray, lower_lip: np.ndarray | None = None) -> np.ndarray:
    """Share of the jaw joint for head vertices: the lower face below the lip line, fading towards the ears.

    Right under the slit the share falls from 1 at the middle of the lip to 0 past the mouth corners, so an
    opening mouth is lens-shaped; further down it blends to 1 over 1.2 cm (chin and lower cheeks rigid).
    """
    q = v - HEAD_CENTER
    phi = np.abs(np.degrees(np.arctan2(q[:, 0], q[:, 2])))
    line = MOUTH_Y + 0.045 * _smoothstep(18.0, 85.0, phi)  # lip line rising towards the ear lobes
    corner = np.degrees(_head_columns()[MOUTH_SLIT])
    lip = 1.0 - _smoothstep(0.0, corner, phi)  # lens-shaped opening: the corners stay put
    depth = 0.02 + 0.012 * _smoothstep(corner, 45.0, phi)  # the cheeks stretch over 2-3 cm
    # the upper lip sits on the line itself: a small margin keeps it (and rounding noise) off the jaw
    below = np.where(v[:, 1] < line - 2e-4, lip + (1.0 - lip) * np.clip((line - v[:, 1]) / depth, 0.0, 1.0), 0.0)
    below = below * below * (3.0 - 2.0 * below)
    if lower_lip is not None:
        below[lower_lip] = lip[lower_lip]
    front = 1.0 - _smoothstep(70.0, 110.0, phi)
    # the skin under the chin joins the neck: no jaw share inside and next to the neck
    reach = np.hypot(v[:, 0], v[:, 2] + 0.01)
    return below * front * _smoothstep(0.05, 0.075, reach)


def _normalise_rows(w: np.ndarray, keep: int = 4, floor: float = 0.01) -> np.ndarray:
    """Keep the ``keep`` largest entries per row above ``floor`` and make each row sum to 1."""
    w = np.where(w >= floor, w, 0.0)
    if w.shape[1] > keep:
        kth = -np.sort(-w, axis=1)[:, keep - 1:keep]
        w = np.where(w >= kth, w, 0.0)
    return w / w.sum(1, keepdims=True)


# Distance multipliers: the trunk's skin follows the pelvis / spine more than the limbs next to it.
_REACH = {("torso", 1): 1.5, ("torso", 2): 1.5, ("torso", 16): 1.15, ("torso", 17): 1.15}


def _skinning(b: _Built, joints: np.ndarray) -> np.ndarray:
    """(V, 55) LBS weights: inverse-distance to the bones of each region's joints, smoothed, 4 per vertex."""
    v = b.verts
    bones = _bones(joints)
    w = np.zeros((len(v), NUM_JOINTS))
    for rid, region in enumerate(REGIONS):
        idx = np.nonzero(b.region == rid)[0]
        if not len(idx):
            continue
        cand = _candidates(region)
        d = np.stack([_segment_distance(v[idx], *bones[j]) * _REACH.get((region, j), 1.0) for j in cand], axis=1)
        raw = (d + 0.004) ** -6.0
        w[np.ix_(idx, cand)] = raw / raw.sum(1, keepdims=True)
    body = b.component == 0
    w = _smooth(w, _edges(b.faces), body, iters=6)
    head = b.region == _RID["head"]
    # head: rigid on the head joint, lower face on the jaw, the lowest (neck) rim blends into the neck
    jaw = _jaw_weight(v, b.head.lower_lip)[head]
    neck = _smoothstep(0.29, 0.25, v[head, 1]) * (1.0 - jaw)
    w[head] = 0.0
    w[head, 22] = jaw
    w[head, 12] = neck
    w[head, 15] = 1.0 - jaw - neck
    w[b.head.mouth] = w[b.head.mouth_source]  # the cavity moves with its lip
    return _normalise_rows(w)
