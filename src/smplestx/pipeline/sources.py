"""Media input for ``smplestx infer``: images, videos, folders of them, and a prefetcher.

Images are read by :func:`smplestx.io.images.read_image` (EXIF orientation applied, 8/16 bit,
grey/RGBA, non-ASCII paths), always as ``(H, W, 3) uint8`` RGB.

Videos are decoded in-process with PyAV (FFmpeg), threaded, as a lazy stream of :class:`Frame`
(constant memory whatever the length), optionally from a start time to an end time with a
stride. A display matrix (phone videos recorded upright: "rotate 90") is applied so frames
come out upright, including flips.

Every problem with an input (missing file, unsupported extension, undecodable content, a
decoding failure mid-stream) raises :class:`MediaError` with a one-line message naming the file.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import UsageError
from ..io.images import MediaError, _fail, decode_image, read_image
from ..io.video import VIDEO_EXTENSIONS

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


@dataclass
class Frame:
    """One picture to process.

    ``index`` is the frame number in the source (0-based, counting every decoded frame, before
    any stride); ``time_s`` the presentation time in seconds from the start of the stream
    (0.0 for images).
    """

    image: np.ndarray  # (H, W, 3) uint8 RGB
    index: int
    time_s: float
    source: Path


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


def _display_transform(frame: Any) -> tuple[bool, bool, bool]:
    """(transpose, flip_rows, flip_cols) that turn a decoded frame into its displayed picture.

    From the frame's ``DISPLAYMATRIX`` side data (FFmpeg layout, 16.16 fixed point, row-vector
    convention): a source pixel ``(p, q)`` (column, row) lands at ``p' = a p + c q + x``,
    ``q' = b p + d q + y``. Only the signs matter for the 8 axis-aligned orientations; anything
    else (shear, odd angles) is ignored.
    """
    try:
        sd = frame.side_data.get("DISPLAYMATRIX")
    except Exception:  # pragma: no cover - PyAV without side-data access
        sd = None
    if sd is None:
        return (False, False, False)
    m = np.frombuffer(bytes(sd), dtype="<i4")
    if m.size < 9:
        return (False, False, False)
    a, b, c, d = (int(v) for v in (m[0], m[1], m[3], m[4]))
    if b == 0 and c == 0 and a != 0 and d != 0:  # no axis swap: p' = a p, q' = d q
        return (False, d < 0, a < 0)
    if a == 0 and d == 0 and b != 0 and c != 0:  # axis swap: p' = c q, q' = b p
        return (True, b < 0, c < 0)
    return (False, False, False)


def _apply_transform(img: np.ndarray, tf: tuple[bool, bool, bool]) -> np.ndarray:
    transpose, flip_rows, flip_cols = tf
    if not (transpose or flip_rows or flip_cols):
        return img
    if transpose:
        img = img.transpose(1, 0, 2)
    if flip_rows:
        img = img[::-1]
    if flip_cols:
        img = img[:, ::-1]
    return np.ascontiguousarray(img)


def _import_av() -> Any:
    try:
        import av  # noqa: PLC0415 - optional heavy dependency, only for videos
    except ImportError as e:  # pragma: no cover - av is installed in the dev environment
        raise ImportError(
            "reading videos needs PyAV: pip install av  (or install smplestx with its video extra)"
        ) from e
    return av


class VideoSource:
    """A video file as a lazy stream of upright RGB :class:`Frame` objects (PyAV, in-process).

    ``start`` and ``end`` are times in seconds from the beginning of the stream (``end``
    exclusive; ``None`` = from the beginning / to the end); frame *numbers* are not accepted
    (use ``frame / fps``). Of the frames in ``[start, end)``, the first and every ``stride``-th
    after it are yielded. Seeking to ``start`` goes to the keyframe before it and decodes up to
    it, so it is fast whatever the position.

    ``Frame.index`` counts decoded frames from the start of the stream. Without ``start`` it is
    the exact decode count; after a seek, the index of the first frame reached is
    ``round(time * fps)`` (exact for constant-frame-rate video, an estimate for variable rate)
    and frames are counted from there.

    The file is opened and its first frame decoded when the object is created, so an
    unreadable or corrupt file raises :class:`MediaError` at once; a decoding error later
    raises :class:`MediaError` naming the file and the frame index (frames yielded before stay
    valid). Iterating again restarts from ``start``; do not iterate twice at the same time.
    Use as a context manager or call :meth:`close`.

    ``width`` / ``height`` are those of the frames as yielded (after the display rotation).
    """

    is_video = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: float | None = None,
        end: float | None = None,
        stride: int = 1,
    ):
        self.path = Path(path)
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise UsageError(f"stride must be an integer >= 1, got {stride!r}")
        if start is not None and (not np.isfinite(start) or start < 0):
            raise UsageError(f"start must be a time in seconds >= 0, got {start!r}")
        if end is not None and (not np.isfinite(end) or end <= (start or 0.0)):
            raise UsageError(f"end must be a time in seconds after start, got {end!r}")
        self.start = None if start is None or start <= 0 else float(start)
        self.end = None if end is None else float(end)
        self.stride = stride
        if not self.path.exists():
            raise _fail(self.path, "no such file")
        if not self.path.is_file():
            raise _fail(self.path, "not a file")
        if self.path.stat().st_size == 0:
            raise _fail(self.path, "empty file")

        av = self._av = _import_av()
        self._lock = threading.Lock()
        self._container: Any = None
        self._pending: Iterator[Any] | None = None  # decode iterator positioned after _first
        self._first: Any = None
        what = "cannot open video"
        try:
            self._container = av.open(str(self.path), mode="r")
            if not self._container.streams.video:
                raise _fail(self.path, "no video stream")
            st = self._stream = self._container.streams.video[0]
            st.thread_type = "AUTO"
            self._time_base: Fraction = st.time_base or Fraction(1, 90000)
            what = "cannot decode the first frame"
            self._pending = self._decode_iter()
            self._first = next(self._pending, None)
            if self._first is None:
                raise _fail(self.path, "no decodable video frames")
        except MediaError:
            self.close()
            raise
        except (av.FFmpegError, OSError, ValueError) as e:
            self.close()
            raise _fail(self.path, f"{what} ({_oneline(e)})") from e

        st = self._stream
        self._t0 = st.start_time if st.start_time is not None else (self._first.pts or 0)
        self._transform = _display_transform(self._first)
        w, h = self._first.width, self._first.height
        self.width: int = h if self._transform[0] else w
        self.height: int = w if self._transform[0] else h
        self.codec_name: str = st.codec_context.name
        rate = st.average_rate or st.guessed_rate or st.base_rate
        if rate:
            self.fps: float = float(rate)
        else:  # pragma: no cover - a stream with no rate information at all
            self.fps = 30.0
            log.warning("%s: no frame rate in the file, assuming 30 fps", self.path.name)
        if st.duration:
            self.duration_s: float | None = float(st.duration * self._time_base)
        elif self._container.duration:
            self.duration_s = self._container.duration / 1_000_000
        else:
            self.duration_s = None
        if st.frames:
            self.frame_count: int | None = int(st.frames)
        elif self.duration_s:
            self.frame_count = max(1, round(self.duration_s * self.fps))
        else:
            self.frame_count = None

    # ---- public ------------------------------------------------------------------------

    @property
    def estimated_frames(self) -> int | None:
        """Estimate of how many frames iterating yields (start/end/stride applied), or None."""
        if self.frame_count is None:
            return None
        # frames i with start <= i / fps < end
        first = math.ceil((self.start or 0.0) * self.fps - 1e-3)
        last = self.frame_count
        if self.end is not None:
            last = min(last, math.ceil(self.end * self.fps - 1e-3))
        n = last - first
        return max(0, -(-n // self.stride))

    def __iter__(self) -> Iterator[Frame]:
        return self._frames()

    def close(self) -> None:
        """Release the file and the decoder (idempotent, thread-safe).

        An iteration running in another thread finishes the frame it is decoding, then ends.
        """
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed before the lock existed
            return
        with lock:
            self._pending = None
            self._first = None
            if self._container is not None:
                try:
                    self._container.close()
                finally:
                    self._container = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        size = f"{getattr(self, 'width', '?')}x{getattr(self, 'height', '?')}"
        fps = getattr(self, "fps", None)
        return (
            f"VideoSource({str(self.path)!r}, {size} @ {fps and round(fps, 3)} fps, "
            f"start={getattr(self, 'start', None)}, end={getattr(self, 'end', None)}, "
            f"stride={getattr(self, 'stride', None)})"
        )

    # ---- internals -----------------------------------------------------------------------

    def _decode_iter(self) -> Iterator[Any]:
        return self._container.decode(self._stream)

    def _time_of(self, frame: Any, previous: float | None) -> float:
        if frame.pts is None:  # some AVI files: no timestamps, assume constant rate
            return 0.0 if previous is None else previous + 1.0 / self.fps
        return float((frame.pts - self._t0) * self._time_base)

    def _check_complete(self, last_index: int | None) -> None:
        """Warn when the stream ends well before the frame count in the file's index.

        A truncated file (copy interrupted, recording cut off) usually just ends early with
        PyAV/FFmpeg, without a decoding error; the container's own frame count (exact for
        MP4/MOV) reveals it. Only a warning: counts of some containers are approximate.
        """
        expected = self._stream.frames if self._stream is not None else 0
        if self.end is None and expected and last_index is not None and last_index + 2 < expected:
            log.warning(
                "%s: video ended after frame %d of %d (file truncated?)",
                self.path.name,
                last_index,
                expected,
            )

    def _start_decoder(self) -> tuple[Any, Iterator[Any], bool]:
        """(first frame or None, decode iterator, whether we seeked); called with the lock held."""
        av = self._av
        if self._first is not None and self.start is None:  # reuse the frame probed at open
            first, decoder = self._first, self._pending
            self._first = self._pending = None
            assert decoder is not None
            return first, decoder, False
        self._first = self._pending = None
        try:
            target = 0 if self.start is None else int(self.start / self._time_base)
            self._container.seek(self._t0 + target, stream=self._stream, backward=True)
            seeked = self.start is not None
        except av.FFmpegError:  # unseekable: reopen and decode from the beginning
            log.debug("%s: cannot seek; decoding from the start", self.path.name)
            self._container.close()
            self._container = av.open(str(self.path), mode="r")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            seeked = False
        return None, self._decode_iter(), seeked

    def _frames(self) -> Iterator[Frame]:
        # Decoding and conversion happen under self._lock, yields outside it: close() from
        # another thread (e.g. while a prefetch thread is decoding) waits for the current step
        # and the iteration then ends, instead of FFmpeg using a freed context.
        av = self._av
        eps = 1e-3 / self.fps  # timestamps are rounded to the container's time base
        start, end, stride = self.start, self.end, self.stride
        with self._lock:
            if self._container is None:
                raise _fail(self.path, "video source is closed")
            first, decoder, seeked = self._start_decoder()
            container = self._container

        index: int | None = None if seeked else -1
        kept = 0
        t_prev: float | None = None
        while True:
            with self._lock:
                if self._container is not container:  # closed meanwhile
                    return
                try:
                    frame = first if first is not None else next(decoder)
                except StopIteration:
                    self._check_complete(index)
                    return
                except av.FFmpegError as e:
                    at = 0 if index is None else index + 1
                    raise _fail(self.path, f"decoding failed at frame {at} ({_oneline(e)})") from e
                first = None
                t = self._time_of(frame, t_prev)
                t_prev = t
                index = round(t * self.fps) if index is None else index + 1
                if start is not None and t < start - eps:
                    continue
                if end is not None and t >= end - eps:
                    return
                take = kept % stride == 0
                kept += 1
                if not take:
                    continue
                try:
                    rgb = frame.to_ndarray(format="rgb24")
                except (av.FFmpegError, ValueError) as e:
                    raise _fail(self.path, f"cannot convert frame {index} ({_oneline(e)})") from e
                tf = _display_transform(frame) if frame.side_data else (False, False, False)
                image = _apply_transform(rgb, tf)
            yield Frame(image, index, t, self.path)


def _oneline(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


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
