"""Opening our own .npz files (results, tracks) as data: no pickles, one clear error for anything else."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np


def open_npz(path: Path, kind: str, error: type[Exception]) -> np.lib.npyio.NpzFile:
    """``np.load`` without pickles; a file that is not an .npz raises ``error`` naming it as not a smplestx ``kind`` file."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise error(f"{path} is not a smplestx {kind} file (cannot read it as .npz: {e})") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise error(f"{path} is not a smplestx {kind} file (a single .npy array, not an .npz)")
    return npz
