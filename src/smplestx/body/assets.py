"""Evaluation assets of SMPLest-X (J14 regressor, hand / face vertex ids), loaded only when asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .model_files import BodyModelFileError, find_asset, read_array_pickle

J14_FILE = "SMPLX_to_J14.pkl"
HAND_IDS_FILE = "MANO_SMPLX_vertex_ids.pkl"
FACE_IDS_FILE = "SMPL-X__FLAME_vertex_ids.npy"

#: Hand regressor of the reference (21 MANO-ordered joints per hand): wrist, then per finger
#: (thumb, index, middle, ring, pinky) three SMPL-X joint rows followed by the finger-tip vertex.
_HAND_LAYOUT: dict[str, tuple[tuple[tuple[int, ...], int], ...]] = {
    "left": (
        ((20, 37, 38, 39), 5361),
        ((25, 26, 27), 4933),
        ((28, 29, 30), 5058),
        ((34, 35, 36), 5169),
        ((31, 32, 33), 5286),
    ),
    "right": (
        ((21, 52, 53, 54), 8079),
        ((40, 41, 42), 7669),
        ((43, 44, 45), 7794),
        ((49, 50, 51), 7905),
        ((46, 47, 48), 8022),
    ),
}


def _asset_path(model_dir: str | Path, filename: str) -> Path:
    path = find_asset(model_dir, filename)
    if path is None:
        p = Path(model_dir).expanduser()
        raise BodyModelFileError(
            f"{filename} not found in {p / 'smplx'} or {p}: this evaluation file is not part of the official "
            f"SMPL-X download (it comes with the SMPLest-X / OSX human_model_files); it is only needed for "
            f"evaluation, copy it next to SMPLX_NEUTRAL.npz"
        )
    return path


def load_j14_regressor(model_dir: str | Path) -> np.ndarray:
    """Return the (14, V) LSP-14 joint regressor from ``SMPLX_to_J14.pkl``."""
    path = _asset_path(model_dir, J14_FILE)
    arr = read_array_pickle(path)
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[0] != 14:
        shape = getattr(arr, "shape", type(arr).__name__)
        raise BodyModelFileError(f"{path}: expected a (14, V) array, got {shape}; replace it with the original asset")
    return arr


def load_hand_vertex_ids(model_dir: str | Path) -> dict[str, np.ndarray]:
    """Return ``{"left_hand", "right_hand"}`` SMPL-X vertex ids (778 each) from ``MANO_SMPLX_vertex_ids.pkl``."""
    path = _asset_path(model_dir, HAND_IDS_FILE)
    obj = read_array_pickle(path)
    if not isinstance(obj, dict) or not {"left_hand", "right_hand"} <= set(obj):
        raise BodyModelFileError(
            f"{path}: expected a dict with 'left_hand' and 'right_hand'; replace it with the original asset"
        )
    out: dict[str, np.ndarray] = {}
    for key in ("left_hand", "right_hand"):
        ids = np.asarray(obj[key])
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise BodyModelFileError(f"{path}: '{key}' must be a 1-D integer array, got {ids.dtype} {ids.shape}")
        out[key] = ids.astype(np.int64)
    return out


def load_face_vertex_ids(model_dir: str | Path) -> np.ndarray:
    """Return the SMPL-X vertex ids of the FLAME head (5023 in the official file) as int64."""
    path = _asset_path(model_dir, FACE_IDS_FILE)
    try:
        ids = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise BodyModelFileError(
            f"{path}: not a plain .npy array ({exc}); replace it with the original asset"
        ) from None
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise BodyModelFileError(f"{path}: expected a 1-D integer array, got {ids.dtype} {ids.shape}")
    return ids.astype(np.int64)


def hand_regressors(J_regressor: np.ndarray) -> dict[str, np.ndarray]:
    """Build the reference's (21, V) left / right hand joint regressors from the (55, V) SMPL-X J_regressor."""
    reg = np.asarray(J_regressor)
    if reg.ndim != 2 or reg.shape[0] < 55:
        raise ValueError(f"J_regressor must be (55, V), got {reg.shape}")
    num_verts = reg.shape[1]
    out: dict[str, np.ndarray] = {}
    for side, layout in _HAND_LAYOUT.items():
        blocks = []
        for rows, tip in layout:
            if tip >= num_verts:
                raise ValueError(f"finger-tip vertex {tip} is outside the model's {num_verts} vertices")
            onehot = np.zeros((1, num_verts), dtype=reg.dtype)
            onehot[0, tip] = 1
            blocks += [reg[list(rows)], onehot]
        out[side] = np.concatenate(blocks, axis=0)
    return out
