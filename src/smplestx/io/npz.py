"""Opening our own .npz files (results, tracks) as data: no pickles, one clear error for anything else."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import BinaryIO

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


#: Default bound on the bytes :func:`read_npz_arrays` takes from one file (a crafted header can claim any size).
MAX_NPZ_BYTES = 1 << 31


def read_npz_arrays(source: Path | BinaryIO, kind: str, error: type[Exception], *, max_bytes: int = MAX_NPZ_BYTES,
                    name: str | None = None) -> dict[str, np.ndarray]:
    """Every array of a foreign ``.npz`` (AMASS, ``.smpl``) as data: object arrays refused by header, never unpickled.

    ``source`` is a path or a binary file object (``name`` then says what it is in messages).
    Each member's ``.npy`` header is read first: an object dtype raises ``error`` naming the array, and the
    total size the headers declare is bounded by ``max_bytes`` before any data is read.
    """
    path = name if name is not None else str(source)
    try:
        zf = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as e:
        raise error(f"{path} is not a {kind} file (cannot read it as .npz: {e})") from e
    out: dict[str, np.ndarray] = {}
    total = 0
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[: -len(".npy")]
            try:
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(f)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
                raise error(f"{path}: corrupt {kind} file (array {key!r}: {e})") from e
            if dtype.hasobject:
                raise error(f"{path}: array {key!r} is an object array; smplestx reads numbers and strings only and "
                            "never unpickles (save the file with plain numeric arrays)")
            total += int(np.prod(shape, dtype=np.int64)) * max(dtype.itemsize, 1)
            if total > max_bytes:
                raise error(f"{path}: the arrays declare over {max_bytes} bytes; not a {kind} file smplestx reads")
            try:
                with zf.open(info) as f:
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
                raise error(f"{path}: corrupt {kind} file (array {key!r}: {e})") from e
    return out
