"""Assembly of the mannequin's rest mesh from the body, hands, legs and head."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body_surface import (
    _ANKLE_HOLE,
    _ARM_HOLE,
    _arm_stations,
    _finger_stations,
    _foot_rings,
    _LEG_HOLE,
    _leg_stations,
    _mirror_hole,
    _palm_holes,
    _palm_rings,
    _TORSO_PROFILE,
    _torso_rings,
    N_ARM,
    N_FINGER,
    N_LEG,
    S_TORSO,
)
from .head import _build_eye, _build_head, _HeadInfo, MOUTH_RINGS, MOUTH_SLIT, S_HEAD
from .mesh_blocks import _fan, _frame, _grid, _Loop, _Mesh, _resample_loop, _tube, _zip
from .skeleton import _finger_points, _FINGERS, _LEFT_JOINTS, _unit, EYE_COLS, EYE_ROWS, FINGERS, NUM_VERTICES

@dataclass
class _Built:
    """The rest mesh plus the bookkeeping needed for skinning, regressors and landmarks."""

    verts: np.ndarray
    faces: np.ndarray
    region: np.ndarray
    component: np.ndarray
    head: _HeadInfo
    head_faces: slice
    special: dict[str, int]  # canonical name -> vertex index (before the final id permutation)


def _canonical(loop: _Loop, sign: float) -> _Loop:
    """A loop with its positions in the canonical (left-side) frame of a side."""
    return _Loop(loop.ids, loop.pts * (sign, 1.0, 1.0))


def _loop_normal(loop: _Loop, away_from: np.ndarray) -> np.ndarray:
    """Unit normal of a (roughly planar) loop, pointing away from a point."""
    p = loop.pts
    n = np.sum(np.cross(p, np.roll(p, -1, axis=0)), axis=0)
    n = _unit(n)
    return n if n @ (p.mean(0) - away_from) >= 0 else -n


def _build_hand(mesh: _Mesh, side: str, special: dict[str, int]) -> _Loop:
    """Palm grid with five fingers (canonical left geometry); returns the wrist loop for the arm."""
    rings, lo, hi = _palm_rings()
    holes = _palm_holes()
    names = ("pinky", "ring", "middle", "index", "wrist", "thumb")
    _, loops = _grid(mesh, rings, f"palm_{side}", lo, hi, tuple(holes[n] for n in names))
    by_name = dict(zip(names, loops))
    palm_center = rings.reshape(-1, 3).mean(0)
    for name in FINGERS:
        f = _FINGERS[name]
        loop = by_name[name]
        normal = _loop_normal(loop, palm_center)
        start = loop.pts.mean(0) + (0.006 if name == "thumb" else 0.004) * normal
        stations = _finger_stations(f, start)
        tip = np.array(_LEFT_JOINTS[20]) + _finger_points(f)[3]
        ids = _tube(mesh, f"{name}_{side}", stations, N_FINGER, loop, tip, np.array([0.0, 1.0, 0.0]), blend=(1, 0))
        special[f"{side}{name}"] = int(ids[-1][0])
    return by_name["wrist"]


def _build_arm(mesh: _Mesh, side: str, shoulder: _Loop, wrist: _Loop) -> None:
    """The arm tube from the shoulder hole of the torso to the wrist hole of the palm."""
    _tube(mesh, f"arm_{side}", _arm_stations(), N_ARM, shoulder, wrist, np.array([0.0, 1.0, 0.0]), blend=(2, 2))


def _build_leg(mesh: _Mesh, side: str, hip: _Loop, special: dict[str, int]) -> None:
    """Foot grid (heel and toe poles) and the leg tube from the pelvis hole down to the ankle hole."""
    rings, heel, toe = _foot_rings()
    gid, (ankle,) = _grid(mesh, rings, f"foot_{side}", heel, toe, (_ANKLE_HOLE,))
    special[f"{side}heel"] = mesh.count - 2
    special[f"{side}bigtoe"] = mesh.count - 1
    # small toe: the outer (lateral) front corner of the foot, two rings behind the tip
    row = rings[-3]
    lateral = int(np.argmax(row[:, 0] + 0.3 * row[:, 2]))
    special[f"{side}smalltoe"] = int(gid[-3, lateral])
    _tube(mesh, f"leg_{side}", _leg_stations(), N_LEG, hip, ankle, np.array([1.0, 0.0, 0.0]), blend=(2, 2))


def _cap_sizes(remainder: int) -> list[int]:
    """Ring sizes (decreasing, 3..S_TORSO-4) plus one pole that add exactly ``remainder`` vertices."""
    n = remainder - 1
    if n == 0:
        return []
    k = max(1, int(np.ceil(n / (S_TORSO - 4))))
    base, extra = divmod(n, k)
    sizes = [base + (1 if i < extra else 0) for i in range(k)]
    if min(sizes) < 3:
        raise ValueError(f"cannot close the neck with {remainder} vertices")
    return sizes


def _build_neck_cap(mesh: _Mesh, top: _Loop, remainder: int) -> None:
    """Close the neck inside the head with a dome of hidden rings that soak up the vertex budget."""
    sizes = _cap_sizes(remainder)
    axis = np.array([0.0, 1.0, 0.0])
    center = top.pts.mean(0)
    u, v = _frame(axis, np.array([0.0, 0.0, 1.0]))
    prev = top
    for k, m in enumerate(sizes):
        t = (k + 1) / (len(sizes) + 1)
        ang = 2 * np.pi * (np.arange(m) + 0.5) / m
        rim = _resample_loop(top.oriented(axis), center, u, v, ang)
        pts = center + np.sqrt(1.0 - t * t) * (rim - center) + (0.0, 0.02 * t, 0.0)
        ring = _Loop(mesh.add(pts, "torso"), pts)
        mesh.tris(_zip(prev, ring, axis))
        prev = ring
    pole = mesh.add(center + (0.0, 0.02, 0.0), "torso")
    mesh.tris(_fan(prev.ids, int(pole[0]), pole_ahead=True))


def _build_body(mesh: _Mesh, special: dict[str, int]) -> _Loop:
    """Torso with arms, hands, legs and feet (component 0); returns the open neck-top loop."""
    rings = _torso_rings()
    holes = (_LEG_HOLE, _mirror_hole(_LEG_HOLE, S_TORSO), _ARM_HOLE, _mirror_hole(_ARM_HOLE, S_TORSO))
    crotch = np.array([0.0, _TORSO_PROFILE[0, 0] - 0.004, 0.0])
    gid, (leg_l, leg_r, arm_l, arm_r) = _grid(mesh, rings, "torso", crotch, None, holes)
    top = _Loop(gid[-1], rings[-1])
    for side, sign, leg, arm in (("l", 1.0, leg_l, arm_l), ("r", -1.0, leg_r, arm_r)):
        mesh.sign = sign
        wrist = _build_hand(mesh, side, special)
        _build_arm(mesh, side, _canonical(arm, sign), wrist)
        _build_leg(mesh, side, _canonical(leg, sign), special)
        mesh.sign = 1.0
    return top


def _head_extremes(verts: np.ndarray, head: _HeadInfo, special: dict[str, int]) -> None:
    """Nose tip and ear vertices of the head grid."""
    ids = head.gid.ravel()
    p = verts[ids]
    mid = np.abs(p[:, 0]) < 0.004
    special["nose"] = int(ids[np.argmax(np.where(mid, p[:, 2], -np.inf))])
    ear_band = np.abs(p[:, 1] - 0.352) < 0.012
    special["lear"] = int(ids[np.argmax(np.where(ear_band, p[:, 0], -np.inf))])
    special["rear"] = int(ids[np.argmin(np.where(ear_band, p[:, 0], np.inf))])


def _build_rest_mesh() -> _Built:
    """Build the neutral rest mesh (10475 vertices, 20908 faces) before the final vertex-id permutation."""
    mesh = _Mesh()
    special: dict[str, int] = {}
    top = _build_body(mesh, special)
    n_eye = EYE_ROWS * EYE_COLS + 2
    fixed = mesh.count + 2 * n_eye + (2 * MOUTH_SLIT - 1) + 2 + MOUTH_RINGS * 4 * MOUTH_SLIT
    n_rows = (NUM_VERTICES - fixed - 40) // S_HEAD
    mesh.comp = 1
    face_start = sum(len(f) for f in mesh.faces)
    head = _build_head(mesh, n_rows)
    head_faces = slice(face_start, face_start + 2 * (n_rows - 1) * S_HEAD)
    for comp, (side, sign) in enumerate((("l", 1.0), ("r", -1.0)), start=2):
        mesh.comp, mesh.sign = comp, sign
        _, pupil = _build_eye(mesh, f"eye_{side}")
        special[f"{side}eye"] = pupil
    mesh.comp, mesh.sign = 0, 1.0
    _build_neck_cap(mesh, top, NUM_VERTICES - mesh.count)
    verts, faces, region, comp = mesh.arrays()
    _head_extremes(verts, head, special)
    return _Built(verts, faces, region, comp, head, head_faces, special)
