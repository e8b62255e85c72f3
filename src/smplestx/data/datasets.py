"""One record of what the reference hard-codes per dataset, shared by training and evaluation, and the one
image-folder resolver for both data layouts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..geometry.crops import BBOX_RATIO, BODY_BOX_RATIO_FACTOR
from .humandata import HumanData, HumanDataError

#: Test-time box ratio: the reference's 1.2 (cfg.bbox_ratio) times its 0.833 shrink for HumanData sets, whose
#: preprocessed HumanData boxes already carry 1.2 padding.
TEST_BOX_RATIO = BBOX_RATIO * BODY_BOX_RATIO_FACTOR


@dataclass(frozen=True)
class DatasetQuirks:
    """The reference's per-dataset switches: how a HumanData set's instances become samples.

    Training reads the first block, evaluation every field but ``focal`` / ``princpt`` / ``hand_only`` /
    ``strip_leading_slash``; each default is the plain HumanData behaviour.
    """

    image_shape: tuple[int, int] | None = None  # (h, w) when the file's meta has no height / width
    flat_hand_mean: bool = False  # GT hand poses stored with flat_hand_mean=True (the model's hand mean subtracted)
    zero_betas: bool = False  # betas not meaningful for SMPL-X: the reference zeroes them (ARCTIC)
    focal: tuple[float, float] | None = None  # training: camera of the whole set (reference cam_param), pixels
    princpt: tuple[float, float] | None = None
    hand_only: bool = False  # training: MANO-style hand set (shape, root and body zeroed; hand roots kept)
    strip_leading_slash: bool = False  # training: image paths start with "/" (MPI-INF-3DHP)
    # Evaluation only:
    interval: int = 1  # keep instance i when i % interval == 0
    box_ratio: float = TEST_BOX_RATIO
    camera_R: tuple[tuple[float, ...], ...] | None = None  # extrinsic rotation applied to the GT (world -> camera)
    camera_t: tuple[float, float, float] | None = None
    body_model: str = "smplx"  # "smplx", "smpl" (3DPW's SMPL ground truth) or "none" (no ground truth)
    gender_from_meta: bool = False  # per-instance gender from meta['gender'] (3DPW); else the params' 'gender'
    vertices_key: str | None = None  # per-instance .npy of GT vertices, relative to the image root (ARCTIC)
    keep: Callable[[HumanData], np.ndarray] | None = None  # extra per-benchmark instance filter -> (N,) bool


def resolve_image_root(data_dir: str | os.PathLike[str], image_dir: str) -> Path:
    """The image folder ``data_dir/image_dir``, else the other layout's (``img/<dir>`` <-> ``<dir>``)."""
    root = Path(data_dir).expanduser()
    primary = root / image_dir
    if primary.is_dir() or image_dir == ".":
        return primary
    alt = root / (image_dir[4:] if image_dir.startswith("img/") else f"img/{image_dir}")
    return alt if alt.is_dir() else primary


def image_under_root(root: str | os.PathLike[str], rel: str, source: str) -> Path:
    """``root / rel`` for a path read from an annotation file; refuses one that leaves the root.

    The annotation file is data from elsewhere: ``../../../../etc/passwd`` or ``/etc/passwd`` must not make
    the loader read outside the image folder. The check is on the path's text (symbolic links inside the
    data folder, a common way to lay datasets out, keep working).
    """
    norm = os.path.normpath(rel)
    if os.path.isabs(rel) or norm == ".." or norm.startswith(".." + os.sep) or "\0" in rel:
        raise HumanDataError(f"{source}: image path {rel!r} leaves the image folder {root}; "
                             "annotation paths must be relative to it")
    return Path(root) / norm


__all__ = ["DatasetQuirks", "TEST_BOX_RATIO", "image_under_root", "resolve_image_root"]
