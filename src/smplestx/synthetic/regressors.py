"""Joint regressors (SMPL-X joints and the 14 evaluation joints) of the mannequin."""

from __future__ import annotations

import numpy as np

from .assembly import _Built
from .mesh_blocks import _RID
from .skeleton import _J14_JOINTS, _unit, EYE_COLS, EYE_ROWS, FINGERS, NUM_JOINTS
from .skinning import _bones

def _convex_weights(pts: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """Non-negative weights summing to 1 with weighted mean ``target``, closest to uniform (None if impossible)."""
    active = np.ones(len(pts), dtype=bool)
    for _ in range(200):
        p = pts[active]
        k = len(p)
        if k < 4:
            return None
        a = np.vstack([p.T, np.ones(k)])
        u = np.full(k, 1.0 / k)
        rhs = np.append(target, 1.0) - a @ u
        lam = np.linalg.lstsq(a @ a.T, rhs, rcond=None)[0]
        w = u + a.T @ lam
        if w.min() >= 0:
            out = np.zeros(len(pts))
            out[active] = w
            return out
        idx = np.nonzero(active)[0]
        active[idx[w < 0]] = False  # drop the vertices pulling the wrong way, solve again
    return None


def _regressor_row(verts: np.ndarray, pool: np.ndarray, target: np.ndarray, k: int,
                   axis: np.ndarray | None = None) -> np.ndarray:
    """A regressor row over the ``k`` vertices of ``pool`` nearest to ``target`` that reproduces it exactly.

    With an ``axis`` (the bone direction) distances along it count three times, so the vertices form a ring
    around the bone at the joint rather than a blob on the nearest side.
    """
    q = verts[pool] - target
    if axis is not None:
        q = q + 2.0 * np.outer(q @ axis, axis)
    d = np.linalg.norm(q, axis=1)
    for kk in (k, 2 * k, 4 * k, 8 * k):
        near = pool[np.argsort(d, kind="stable")[:kk]]
        w = _convex_weights(verts[near], target)
        if w is not None:
            row = np.zeros(len(verts))
            row[near] = w
            return row / row.sum()
    raise RuntimeError(f"joint {target} is outside the mesh")


def _joint_pool(b: _Built, j: int) -> tuple[np.ndarray, int]:
    """Vertices that may regress joint j (its own parts) and how many of the nearest to use."""
    r = b.region
    names: list[str]
    k = 40
    side = "l" if j in (1, 4, 7, 10, 13, 16, 18, 20, 23) or 25 <= j < 40 else "r"
    if j in (0, 3, 6, 9, 12, 13, 14):
        names, k = ["torso"], 60
    elif j in (1, 2):
        names = ["torso", f"leg_{side}"]
    elif j in (4, 5):
        names = [f"leg_{side}"]
    elif j in (7, 8):
        names = [f"leg_{side}", f"foot_{side}"]
    elif j in (10, 11):
        names = [f"foot_{side}"]
    elif j == 15:
        names, k = ["torso", "head"], 60
    elif j in (16, 17):
        names = ["torso", f"arm_{side}"]
    elif j in (18, 19):
        names = [f"arm_{side}"]
    elif j in (20, 21):
        names = [f"arm_{side}", f"palm_{side}"]
    elif j == 22:
        names, k = ["head"], 300
    elif j in (23, 24):
        names, k = [f"eye_{side}"], EYE_ROWS * EYE_COLS + 2
    else:
        f = ((j - 25) % 15) // 3
        names = [f"{FINGERS[f]}_{side}"] + ([f"palm_{side}"] if (j - 25) % 3 == 0 else [])
        if FINGERS[f] == "thumb" and (j - 25) % 3 == 0:
            names = [f"palm_{side}"]
        k = 20
    pool = np.nonzero(np.isin(r, [_RID[n] for n in names]))[0]
    return pool, k


def _j_regressor(b: _Built, joints: np.ndarray) -> np.ndarray:
    """(55, V) regressor whose rows put every joint exactly at its rest position on the neutral mesh."""
    rows = []
    bones = _bones(joints)
    for j in range(NUM_JOINTS):
        pool, k = _joint_pool(b, j)
        axis = None if j in (22, 23, 24) else _unit(bones[j, 1] - bones[j, 0])
        rows.append(_regressor_row(b.verts, pool, joints[j], k, axis))
    return np.stack(rows)


def _j14_regressor(b: _Built, jreg: np.ndarray) -> np.ndarray:
    """(14, V) LSP regressor: SMPL-X joint rows, and the crown of the head for Head_top."""
    out = np.zeros((14, len(b.verts)))
    for i, j in enumerate(_J14_JOINTS):
        if j >= 0:
            out[i] = jreg[j]
    head = np.nonzero(b.region == _RID["head"])[0]
    y = b.verts[head, 1]
    crown = head[y > y.max() - 0.006]
    out[13, crown] = 1.0 / len(crown)
    return out
