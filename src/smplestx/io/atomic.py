"""The one atomic-write helper: write to a temporary name next to the target, then rename it over.

Temporaries are named ``.<target name>.<random>.smplestx-partial[<target suffix>]`` (hidden, in the
target's folder, so the final rename never crosses a file system; writers that pick a format from the
extension, such as FFmpeg and OpenCV, keep it with ``keep_suffix``). :data:`TEMP_MARKER` lets a later run
recognise and remove stale ones left by a crash (:func:`remove_stale_temporaries`). Finished files get the permissions an
ordinary ``open(path, "w")`` would give (``0o666 & ~umask``), not ``mkstemp``'s private ``0o600``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "TEMP_MARKER",
    "temp_dir_for",
    "temp_path_for",
    "atomic_dir",
    "atomic_path",
    "publish",
    "remove_stale_temporaries",
    "save_npz",
    "write_bytes",
    "write_text",
]

log = logging.getLogger(__name__)

TEMP_MARKER = ".smplestx-partial"


def _umask() -> int:
    """The process umask (reading it means setting it; restored at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform can open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def temp_path_for(path: str | os.PathLike[str], *, keep_suffix: bool = False) -> Path:
    """Create (empty) and return a unique temporary file next to ``path``, recognisable by :data:`TEMP_MARKER`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = TEMP_MARKER + (path.suffix if keep_suffix else "")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def temp_dir_for(path: str | os.PathLike[str]) -> Path:
    """Create and return a unique temporary folder next to ``path``, recognisable by :data:`TEMP_MARKER`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_MARKER, dir=path.parent))


def publish(tmp: str | os.PathLike[str], path: str | os.PathLike[str], *, fsync: bool = True) -> None:
    """Rename a finished temporary from :func:`temp_path_for` onto ``path`` with the usual permissions."""
    _publish(Path(tmp), Path(path), fsync=fsync, mode=0o666 & ~_umask())


def _publish(tmp: Path, path: Path, *, fsync: bool, mode: int) -> None:
    """Give ``tmp`` its final permissions, flush it if asked, and rename it onto ``path``."""
    os.chmod(tmp, mode)
    if fsync:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, path)
    if fsync:
        _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = True, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, on any error remove it.

    The caller writes the whole file to the yielded path (by name; it exists, empty). ``fsync`` flushes
    the data and the rename to disk before returning, for files whose loss after a power cut matters.
    """
    path = Path(path)
    tmp = temp_path_for(path, keep_suffix=keep_suffix)
    try:
        yield tmp
        _publish(tmp, path, fsync=fsync, mode=0o666 & ~_umask())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to ``path`` (same naming); rename it onto ``path`` on success.

    ``path`` must not exist yet as a non-empty folder (a folder cannot be replaced atomically).
    """
    path = Path(path)
    tmp = temp_dir_for(path)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)


def save_npz(path: str | os.PathLike[str], arrays: dict[str, Any], *, compressed: bool = False,
             fsync: bool = True) -> Path:
    """Save ``arrays`` as an ``.npz`` at ``path`` atomically (exactly that name: no ``.npz`` appended)."""
    path = Path(path)
    with atomic_path(path, fsync=fsync) as tmp, open(tmp, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return path


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries of ours (hidden, with :data:`TEMP_MARKER` in the name) left in ``folder`` by a crashed run; return them.

    Only call this where no other writer is working in the same folder at the same time.
    """
    removed = []
    for p in Path(folder).glob(f".*{TEMP_MARKER}*"):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        removed.append(p)
    if removed:
        log.info("removed %d stale temporary file(s) in %s", len(removed), folder)
    return removed
