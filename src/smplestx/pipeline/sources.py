"""Media input for ``smplestx infer``: which files to read, one source per file, and a prefetcher.

Images are read by :func:`smplestx.io.images.read_image` (EXIF orientation applied, 8/16 bit,
grey/RGBA, non-ASCII paths), always as ``(H, W, 3) uint8`` RGB; videos by
:class:`smplestx.io.video.VideoSource` (PyAV, lazy, upright, start/end/stride), beside the video writer.

Every problem with an input (missing file, unsupported extension, undecodable content, a
decoding failure mid-stream) raises :class:`MediaError` with a one-line message naming the file.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar


from ..io.images import MediaError, _fail, read_image
from ..io.video import VIDEO_EXTENSIONS, Frame, VideoSource

log = logging.getLogger(__name__)

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Frame",
    "ImageSource",
    "MediaError",
    "Prefetcher",
    "VideoSource",
    "collect_inputs",
    "is_image",
    "is_video",
    "natural_key",
    "open_source",
    "prefetch",
    "read_image",
]

#: Lower-case suffixes (with the dot) read as still images.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
)


def is_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has an image extension (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a video extension (case-insensitive)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# frames and sources
# --------------------------------------------------------------------------------------------


class ImageSource:
    """One image file as a source of one :class:`Frame` (index 0, time 0.0).

    The file is decoded when iterated (not kept in memory afterwards), so many sources can be
    created up front cheaply; :meth:`read` decodes it immediately.
    """

    is_video = False
    fps: float | None = None
    frame_count = 1
    estimated_frames = 1

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        if not self.path.is_file():
            raise _fail(self.path, "no such file" if not self.path.exists() else "not a file")

    def read(self) -> Frame:
        """Decode the image now."""
        return Frame(read_image(self.path), 0, 0.0, self.path)

    def __iter__(self) -> Iterator[Frame]:
        yield self.read()

    def close(self) -> None:
        """Nothing to release; present for symmetry with :class:`VideoSource`."""

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ImageSource({str(self.path)!r})"


def open_source(
    path: str | os.PathLike[str],
    start: float | None = None,
    end: float | None = None,
    stride: int = 1,
) -> ImageSource | VideoSource:
    """An :class:`ImageSource` or a :class:`VideoSource` by the file's extension.

    ``start`` / ``end`` / ``stride`` only apply to videos. Raises :class:`MediaError` for an
    unsupported extension or an unreadable file.
    """
    p = Path(path)
    if is_image(p):
        return ImageSource(p)
    if is_video(p):
        return VideoSource(p, start=start, end=end, stride=stride)
    raise _fail(p, f"unsupported file type {p.suffix or '(no extension)'!r} ({_supported()})")


# --------------------------------------------------------------------------------------------
# collecting inputs
# --------------------------------------------------------------------------------------------


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``frame2`` before ``frame10`` (case-insensitive)."""
    parts = re.split(r"(\d+)", name.casefold())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p != "")


def _path_key(path: Path, root: Path) -> tuple[tuple[tuple[int, int | str], ...], ...]:
    return tuple(natural_key(part) for part in path.relative_to(root).parts)


def _supported() -> str:
    exts = sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
    return "supported: " + ", ".join(exts)


def _expand_folder(folder: Path, recursive: bool) -> list[Path]:
    found: list[Path] = []
    walker = os.walk(folder) if recursive else [(str(folder), [], os.listdir(folder))]
    for dirpath, dirnames, filenames in walker:
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # skip hidden folders
        for name in filenames:
            p = Path(dirpath, name)
            if name.startswith("."):  # hidden files, macOS "._x.jpg" resource forks, partials
                log.debug("skipping hidden file %s", p)
            elif not (is_image(p) or is_video(p)):
                log.debug("skipping %s: not an image or a video", p)
            elif p.is_file():
                found.append(p)
    found.sort(key=lambda p: _path_key(p, folder))
    return found


def collect_inputs(inputs: Sequence[str | os.PathLike[str]], recursive: bool = False) -> list[Path]:
    """Expand the command-line inputs into the list of media files to process.

    Files are kept as given, in order; a folder is replaced by its images and videos in
    natural order (``frame2`` before ``frame10``), descending into subfolders when
    ``recursive`` (files of a folder and of its subfolders sorted together by their relative
    path). Inside folders, hidden entries (names starting with ``.``) and files with other
    extensions are skipped (logged at debug level). A file reached twice is listed once (its
    first place). Raises :class:`MediaError` for a missing path, or a file given explicitly
    whose extension is not supported.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            try:
                for f in _expand_folder(p, recursive):
                    add(f)
            except OSError as e:
                raise _fail(p, f"cannot list folder ({e.strerror or e})") from None
        elif p.is_file():
            if not (is_image(p) or is_video(p)):
                raise _fail(p, f"unsupported file type {p.suffix or '(no extension)'!r} ({_supported()})")
            add(p)
        elif p.exists():
            raise _fail(p, "not a file or a folder")
        else:
            raise _fail(p, "no such file or folder")
    return out


# --------------------------------------------------------------------------------------------
# prefetching
# --------------------------------------------------------------------------------------------

T = TypeVar("T")

def _produce(iterable: Iterable[Any], q: queue.Queue[tuple[str, Any]], stop: threading.Event) -> None:
    """Body of the prefetch thread (holds no reference to the Prefetcher, so dropping it works)."""

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    it: Any = None
    try:
        it = iter(iterable)
        while not stop.is_set():
            try:
                item = next(it)
            except StopIteration:
                break
            if not put(("item", item)):
                return
        put(("done", None))
    except BaseException as e:  # noqa: BLE001 - handed over to the consumer
        put(("error", e))
    finally:
        close = getattr(it, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # pragma: no cover
                log.debug("closing the prefetched iterator failed", exc_info=True)


class Prefetcher(Iterator[T]):
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead (see :func:`prefetch`)."""

    def __init__(self, iterable: Iterable[T], depth: int = 4, name: str = "smplestx-prefetch"):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(
            target=_produce, args=(iterable, self._queue, self._stop), name=name, daemon=True
        )
        self._thread.start()

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == "item":
            return value
        self._finished = True
        self._join()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self, timeout: float = 10.0) -> None:
        """Stop the background thread and wait for it (idempotent); pending items are dropped."""
        self._finished = True
        self._stop.set()
        while True:  # free a producer blocked on a full queue at once
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._join(timeout)

    def _join(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():  # pragma: no cover - producer stuck inside next()
                log.warning("prefetch thread still busy after %.0f s; leaving it (daemon)", timeout)

    @property
    def alive(self) -> bool:
        """Whether the background thread is still running."""
        return self._thread.is_alive()

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()  # the thread notices within ~50 ms and closes the iterable


def prefetch(iterable: Iterable[T], depth: int = 4) -> Prefetcher[T]:
    """Run ``iterable`` in a background thread with a bounded queue of ``depth`` items.

    Decoding (of a :class:`VideoSource`, say) then overlaps with the consumer's work. An
    exception raised by the iterable is re-raised by ``next()`` in the consumer. If the consumer
    stops early, call ``close()`` (or use ``with prefetch(...) as it:``): the thread stops after
    the item it is producing and the iterable is closed in that thread. If it is simply dropped,
    the thread stops within ~50 ms once its queue is full.
    """
    return Prefetcher(iterable, depth)
