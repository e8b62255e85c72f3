"""License-free synthetic SMPL-X body model: a human-like mannequin with the official file layout.

The real SMPL-X files are licensed; this module builds a structurally identical model folder
(``smplx/SMPLX_{NEUTRAL,MALE,FEMALE}.npz`` plus the three evaluation assets) from simple geometry,
deterministically from a seed (the seed only adds a little individuality: hand PCA basis, finger curl
jitter and a 0.1-sigma shape offset).  Use :func:`write_synthetic_body` or :func:`make_synthetic_arrays`.

Mesh (10475 vertices, 20908 faces, every face wound outwards):

* body, one closed genus-0 surface (F = 2V - 4): a lofted torso grid ending in the neck, with four
  rectangular holes into which the arm and leg tubes are glued; each arm ends in a palm grid with
  holes for the wrist, four fingers and the thumb (tubes with rounded tips); each leg ends in a foot
  grid (heel and big-toe poles) through a hole on its top.  A hidden dome closing the neck inside the
  head absorbs whatever the vertex budget leaves over.
* head, a star-shaped surface around HEAD_CENTER (smooth union of ellipsoids: cranium, face, jaw,
  chin, nose, brows, cheekbones, lips, ears) sampled on a grid that is denser at the face.  The lips
  are split along a 14-edge slit and lead into a flat mouth cavity (upper sheet on the head joint,
  lower sheet on the jaw) whose open far end is the mesh's only boundary (28 edges), so
  F = 2V - 4 + 2 - 28.
* two UV-sphere eyeballs on the eye joints (F = 2V - 4 each).

With 4 components and one 28-edge boundary, 2 * 10475 - 4 * 4 - 26 = 20908 faces exactly.  Vertex ids
are permuted at the end so that every id SMPL-X code reads directly (nose, eyes, ears, toes, heels,
finger tips) sits at the matching spot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .assembly import _build_rest_mesh, _Built
from .blend_shapes import _expr_dirs, _hand_components, _hand_mean, _pose_dirs, _shape_dirs
from .files import write_npy, write_npz, write_pickle
from .landmarks import _dynamic_landmarks, _static_landmarks
from .mesh_blocks import _RID
from .regressors import _j14_regressor, _j_regressor
from .skeleton import (
    FINGERS,
    NUM_FACES,
    NUM_FLAME,
    NUM_JOINTS,
    NUM_MANO,
    NUM_SHAPE,
    NUM_VERTICES,
    PARENTS,
    rest_joints,
)
from .skinning import _skinning
from .vertex_ids import _flame_ids, _mano_ids, _permutation

log = logging.getLogger(__name__)

#: Shape coefficients that turn the neutral mannequin into the male / female one.
_GENDER_BETAS = {
    "neutral": np.zeros(NUM_SHAPE),
    "male": np.array([0.9, 0.3, 1.0, 0.2, -0.8, 0.2, 0.4, -0.3, 0.3, 0.8]),
    "female": np.array([-0.9, -0.1, -1.0, -0.1, 1.2, -0.1, -0.4, 0.9, -0.3, -0.7]),
}


@dataclass
class _Model:
    """Gender-independent arrays of the model (already in SMPL-X vertex order) plus the id sets."""

    arrays: dict[str, np.ndarray]
    flame: np.ndarray
    mano: dict[str, np.ndarray]
    j14: np.ndarray


def _check_budget(b: _Built) -> None:
    """Fail loudly if the geometry no longer matches the SMPL-X counts (e.g. after editing a profile)."""
    hands = {side: np.isin(b.region, [_RID[f"{n}_{side}"] for n in ("palm",) + FINGERS]).sum() for side in "lr"}
    problems = []
    if b.verts.shape[0] != NUM_VERTICES or b.faces.shape[0] != NUM_FACES:
        problems.append(f"{b.verts.shape[0]} vertices / {b.faces.shape[0]} faces")
    if (b.component > 0).sum() < NUM_FLAME:
        problems.append(f"only {(b.component > 0).sum()} head vertices")
    if min(hands.values()) < NUM_MANO:
        problems.append(f"hands of {hands} vertices")
    if problems:
        raise RuntimeError("synthetic body does not fit the SMPL-X layout: " + ", ".join(problems))


def _build_model(seed: int) -> _Model:
    """Everything but the gender-specific template, from one rest mesh."""
    rng = np.random.default_rng(seed)
    b = _build_rest_mesh()
    _check_budget(b)
    joints = rest_joints()
    weights = _skinning(b, joints)
    jreg = _j_regressor(b, joints)
    flame = _flame_ids(b)
    mano = {"left_hand": _mano_ids(b, "l", joints), "right_hand": _mano_ids(b, "r", joints)}
    shapedirs = np.concatenate([_shape_dirs(b, weights, joints), _expr_dirs(b, flame, joints)], axis=2)
    posedirs = _pose_dirs(b, weights, joints)
    lmk_faces, lmk_bary = _static_landmarks(b)
    dyn_faces, dyn_bary = _dynamic_landmarks(b)
    j14 = _j14_regressor(b, jreg)
    hands_meanl, hands_meanr = _hand_mean(rng)
    # small seed-dependent individuality on top of the designed mannequin
    personal = rng.normal(0.0, 0.1, NUM_SHAPE)

    order = _permutation(b.special)
    new_id = np.empty_like(order)
    new_id[order] = np.arange(NUM_VERTICES)
    kintree = np.stack([PARENTS.copy(), np.arange(NUM_JOINTS)])
    kintree[0, 0] = 4294967295  # the official files store the root's parent as uint32(-1)
    arrays = {
        "v_template": b.verts[order] + shapedirs[order, :, :NUM_SHAPE] @ personal,
        "f": new_id[b.faces].astype(np.int32),
        "J_regressor": jreg[:, order],
        "weights": weights[order],
        "kintree_table": kintree.astype(np.int64),
        "shapedirs": shapedirs[order],
        "posedirs": posedirs[order],
        "hands_componentsl": _hand_components(rng),
        "hands_componentsr": _hand_components(rng),
        "hands_meanl": hands_meanl,
        "hands_meanr": hands_meanr,
        "lmk_faces_idx": lmk_faces,
        "lmk_bary_coords": lmk_bary,
        "dynamic_lmk_faces_idx": dyn_faces,
        "dynamic_lmk_bary_coords": dyn_bary,
    }
    return _Model(arrays, np.sort(new_id[flame]), {k: np.sort(new_id[v]) for k, v in mano.items()},
                  j14[:, order].astype(np.float32))


def _gendered(model: _Model, gender: str) -> dict[str, np.ndarray]:
    """The model arrays with the template of a gender."""
    g = gender.lower()
    if g not in _GENDER_BETAS:
        raise ValueError(f"unknown gender {gender!r}; expected neutral, male or female")
    out = dict(model.arrays)
    out["v_template"] = out["v_template"] + out["shapedirs"][:, :, :NUM_SHAPE] @ _GENDER_BETAS[g]
    return out


def make_synthetic_arrays(seed: int = 0, gender: str = "neutral") -> dict[str, np.ndarray]:
    """Arrays of one synthetic ``SMPLX_{GENDER}.npz`` (same keys, shapes and dtypes as the official files)."""
    return _gendered(_build_model(seed), gender)




def write_synthetic_body(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a synthetic SMPL-X model folder ``out_dir/smplx`` (three genders + evaluation assets); return it."""
    folder = Path(out_dir) / "smplx"
    folder.mkdir(parents=True, exist_ok=True)
    model = _build_model(seed)
    for gender in ("neutral", "male", "female"):
        write_npz(folder / f"SMPLX_{gender.upper()}.npz", _gendered(model, gender))
    # protocol 2, as the official evaluation assets
    write_pickle(folder / "SMPLX_to_J14.pkl", model.j14, protocol=2)
    write_pickle(folder / "MANO_SMPLX_vertex_ids.pkl", model.mano, protocol=2)
    write_npy(folder / "SMPL-X__FLAME_vertex_ids.npy", model.flame.astype(np.int64))
    log.info("wrote a synthetic SMPL-X body model (seed %d) to %s", seed, folder)
    return folder
