"""The one writer of the synthetic assets' files: atomic, deterministic npz / npy / numpy-only pickles.

Every file under :mod:`smplestx.synthetic` is written through :func:`write_atomic`, which uses
:func:`smplestx.io.atomic.atomic_path`.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import numpy as np

from ..io.atomic import atomic_path


def write_atomic(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Let ``fill`` write the file through the house's atomic writer (a temporary next to ``path``, then a rename)."""
    with atomic_path(path, fsync=False) as tmp, open(tmp, "wb") as fh:
        fill(fh)


def write_bytes(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    write_atomic(path, lambda fh: fh.write(data))


def npy_bytes(arr: np.ndarray) -> bytes:
    """The .npy serialisation of an array (no pickles)."""
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Compressed npz with fixed zip timestamps (np.savez stamps the current time): equal arrays, equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, npy_bytes(np.ascontiguousarray(arr)))
    return buf.getvalue()


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write a deterministic compressed npz."""
    write_bytes(path, npz_bytes(arrays))


def write_npy(path: Path, arr: np.ndarray) -> None:
    """Atomically write one array as .npy."""
    write_bytes(path, npy_bytes(arr))


class _StreamedBytes:
    """A bytes payload pickled chunk by chunk (a 577 MB matrix is never held in memory as one block)."""

    def __init__(self, size: int, chunks: Callable[[], Iterator[bytes]]) -> None:
        self.size = size
        self.chunks = chunks


@dataclass(frozen=True)
class LazyArray:
    """An array pickled exactly as numpy pickles an ndarray, its data produced row block by row block."""

    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: Callable[[], Iterator[bytes]]


class _CompatPickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Pickler naming numpy's array rebuilder ``numpy.core.multiarray`` (numpy 1.x and 2.x both read it).

    numpy 2 names it ``numpy._core.multiarray``, a module numpy 1.x lacks.  The pure-Python pickler writes
    large payloads straight to the file; :class:`LazyArray` payloads are streamed.
    """

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_global(self, obj: Any, name: str | None = None) -> None:  # noqa: D102 - pickle hook
        module = getattr(obj, "__module__", "") or ""
        if module.startswith("numpy._core"):
            qual = name or obj.__qualname__
            self.write(pickle.GLOBAL + module.replace("numpy._core", "numpy.core", 1).encode() + b"\n"
                       + qual.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def reducer_override(self, obj: Any) -> Any:  # noqa: D102 - pickle hook
        if isinstance(obj, LazyArray):
            # What ndarray.__reduce__ returns: _reconstruct(ndarray, (0,), b'b') + setstate(version 1 state).
            try:
                from numpy._core.multiarray import _reconstruct  # numpy >= 2
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
            size = int(np.prod(obj.shape)) * obj.dtype.itemsize
            state = (1, obj.shape, obj.dtype, False, _StreamedBytes(size, obj.chunks))
            return _reconstruct, (np.ndarray, (0,), b"b"), state
        return NotImplemented

    def _save_streamed(self, obj: _StreamedBytes) -> None:
        if obj.size >= 2**32:
            raise ValueError("payload too large for a protocol-3 pickle")
        self.write(pickle.BINBYTES + struct.pack("<I", obj.size))
        written = 0
        for chunk in obj.chunks():
            self.write(chunk)
            written += len(chunk)
        if written != obj.size:
            raise RuntimeError(f"streamed {written} bytes, announced {obj.size}")

    dispatch[_StreamedBytes] = _save_streamed


def write_pickle(path: Path, obj: Any, protocol: int = 3) -> None:
    """Atomically write arrays / dicts of arrays (and :class:`LazyArray`) as a numpy-only pickle."""
    write_atomic(path, lambda fh: _CompatPickler(fh, protocol=protocol).dump(obj))
