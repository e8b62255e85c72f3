"""AGORA test-set predictions in the format of its evaluation server (github.com/pixelite1201/agora_evaluation).

One pickle per predicted person, ``predictions/<image stem>_personId_<k>.pkl``, holding ``joints`` (144, 2) pixel
coordinates in the 3840x2160 frame (the server matches people on the first 24) and ``params`` (SMPL-X axis-angle,
``flat_hand_mean=False`` convention as the server's model, arrays of shape (1, ...)); ``zip_predictions`` packs
the folder as the server expects.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from ..geometry.cameras import crop_camera, project_points
from ..io.atomic import atomic_path, write_bytes

AGORA_SIZE = (3840, 2160)  # (width, height) the server's 2D joints are in
PREDICTIONS = "predictions"


def person_file(folder: Path, image_path: str | Path, k: int) -> Path:
    """``folder/predictions/<stem>_personId_<k>.pkl``."""
    return folder / PREDICTIONS / f"{Path(image_path).stem}_personId_{k}.pkl"


def agora_prediction(params: dict[str, np.ndarray], joints_cam: np.ndarray, box: np.ndarray,
                     image_size: tuple[int, int]) -> dict:
    """One person's submission dict from the crop-camera joints (144, 3), the processed box and the image (w, h)."""
    focal, princpt = crop_camera(box)
    uv = project_points(joints_cam.astype(np.float64), focal, princpt)
    uv = uv * np.array([AGORA_SIZE[0] / image_size[0], AGORA_SIZE[1] / image_size[1]])
    row = lambda x, n: np.asarray(x, np.float32).reshape(1, n)  # noqa: E731
    return {
        "joints": uv.astype(np.float32),
        "params": {
            "transl": row(params["transl"], 3), "global_orient": row(params["global_orient"], 3),
            "body_pose": row(params["body_pose"], 63), "left_hand_pose": row(params["left_hand_pose"], 45),
            "right_hand_pose": row(params["right_hand_pose"], 45), "jaw_pose": row(params["jaw_pose"], 3),
            "leye_pose": np.zeros((1, 3), np.float32), "reye_pose": np.zeros((1, 3), np.float32),
            "betas": row(params["betas"], 10), "expression": row(params["expression"], 10),
        },
        "pose2rot": True, "gender": "neutral", "num_betas": 10,
    }


def write_prediction(path: Path, prediction: dict) -> None:
    """Write one person's pickle atomically."""
    # Many small files, rebuilt by a rerun: no fsync each.
    write_bytes(path, pickle.dumps(prediction, protocol=4), fsync=False)


def zip_predictions(folder: Path) -> Path:
    """Pack ``folder/predictions`` into ``folder/predictions.zip`` (the upload)."""
    out = folder / "predictions.zip"
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((folder / PREDICTIONS).glob("*.pkl")):
            zf.write(f, f"{PREDICTIONS}/{f.name}")
    return out


__all__ = ["AGORA_SIZE", "agora_prediction", "person_file", "write_prediction", "zip_predictions"]
