"""Video reading and writing, and image output: in-process (PyAV), atomic, exact frame size.

:class:`VideoSource` reads a video as a lazy stream of upright RGB :class:`Frame` objects (constant memory
whatever the length; start/end/stride; display-matrix rotations and flips applied).

:class:`VideoWriter` encodes RGB ``uint8`` frames with PyAV (FFmpeg) in the same process:

* even width and height: H.264 (``libx264``, ``yuv420p``, ``crf``), the most widely playable
  choice (browsers, QuickTime, phones, hardware decoders);
* odd width or height: 4:2:0 H.264 cannot represent odd sizes (its cropping works in 2-pixel
  steps) and the overlay must keep the input's exact size, so ``codec="auto"`` switches to
  MPEG-4 Part 2 (``mpeg4``, ``yuv420p``; FFmpeg allows odd sizes there), which plays in VLC,
  mpv, QuickTime, Windows and Android, but not in web browsers. ``codec="h264"`` with an odd
  size instead uses H.264 in ``yuv444p`` (exact size too, but the High 4:4:4 profile is not
  supported by browsers, QuickTime or most hardware decoders);
* without PyAV, or a PyAV build with neither encoder, it falls back to OpenCV's
  ``cv2.VideoWriter`` with the ``mp4v`` (MPEG-4 Part 2) fourcc.

Licensing: the PyAV wheels bundle FFmpeg built with x264, which is GPL-2.0-or-later; encoding
H.264 with them therefore uses GPL code. smplestx itself does not link to it at build time
(PyAV is an optional run-time dependency); pass ``codec="mpeg4"`` to avoid x264.

Both writers are atomic: data go to a hidden temporary file in the destination folder
(``.<name>.<random>.smplestx-partial<ext>``, see :mod:`smplestx.io.atomic`), renamed over the final name only when :meth:`close`
succeeds. An exception (including ``KeyboardInterrupt``) inside ``with VideoWriter(...)``
removes the temporary file, so a half-written file that looks complete is never left behind.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from ..errors import UsageError
from .atomic import publish, temp_path_for, write_bytes
from .images import MediaError, _fail

log = logging.getLogger(__name__)

#: Lower-case suffixes (with the dot) read as videos.
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})

__all__ = ["VideoWriter", "available_codecs", "fps_fraction", "write_image"]

# container format by output suffix
_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
_CODECS = ("auto", "h264", "mpeg4", "mp4v")
_AVCOL_BT709 = 1  # AVCOL_SPC_BT709 == AVCOL_PRI_BT709 == AVCOL_TRC_BT709
_AVCOL_RANGE_MPEG = 1  # limited ("TV") range


def fps_fraction(fps: float | Fraction) -> Fraction:
    """An exact frame rate for the encoder: NTSC rates (29.97, 23.976, 59.94, ...) become
    ``N * 1000 / 1001``, other rates their closest fraction with a denominator <= 1001."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        fps = float(fps)
        if not np.isfinite(fps) or fps <= 0:
            raise UsageError(f"fps must be a positive number, got {fps!r}")
        rate = Fraction(fps).limit_denominator(1001)
        for n in (24, 30, 48, 60, 120, 240):
            ntsc = Fraction(n * 1000, 1001)
            if abs(fps - float(ntsc)) < 5e-3:
                return ntsc
    if rate <= 0:
        raise UsageError(f"fps must be positive, got {fps!r}")
    return rate


def _import_av() -> Any:
    try:
        import av  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None
    return av


def _has_encoder(av: Any, name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def available_codecs() -> list[str]:
    """The ``codec`` values usable here (besides ``"auto"``)."""
    av = _import_av()
    out = []
    if av is not None and _has_encoder(av, "libx264"):
        out.append("h264")
    if av is not None and _has_encoder(av, "mpeg4"):
        out.append("mpeg4")
    out.append("mp4v")
    return out


def _unlink(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError:  # pragma: no cover
            log.warning("could not remove temporary file %s", path, exc_info=True)


class VideoWriter:
    """Write RGB ``uint8`` frames of a fixed size to a video file, atomically.

    ``codec``: ``"auto"`` (H.264 for even sizes, MPEG-4 Part 2 for odd ones, see the module
    docstring), ``"h264"``, ``"mpeg4"`` or ``"mp4v"`` (OpenCV). ``crf`` is x264's constant rate
    factor (0-51, lower is better; 20 is visually near-lossless for overlays); for MPEG-4 Part 2
    it is mapped to a constant quantiser ``q = clip(round((crf - 2) / 6), 2, 31)`` (20 -> 3).
    ``fps`` may be a float (29.97 is stored exactly as 30000/1001) or a ``Fraction``.
    The suffix of ``path`` picks the container: .mp4, .m4v, .mov, .mkv or .avi.

    The file appears under ``path`` only when :meth:`close` succeeds (replacing any file
    there); :meth:`abort` (or an exception inside a ``with`` block) removes the partial output
    and leaves ``path`` untouched. Closing after zero frames creates no file (a warning is
    logged; ``saved`` stays False).

    The OpenCV ``mp4v`` fallback cannot keep odd sizes: OpenCV rounds them down to even.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float | Fraction,
        width: int,
        height: int,
        *,
        codec: str = "auto",
        crf: int = 20,
    ):
        self.path = Path(path)
        self.fps = fps_fraction(fps)
        self.width, self.height = int(width), int(height)
        if self.width < 1 or self.height < 1:
            raise UsageError(f"frame size must be positive, got {width}x{height}")
        if codec not in _CODECS:
            raise UsageError(f"codec must be one of {', '.join(_CODECS)}, got {codec!r}")
        if not 0 <= crf <= 51:
            raise UsageError(f"crf must be in [0, 51], got {crf}")
        suffix = self.path.suffix.lower()
        if suffix not in _FORMATS:
            raise UsageError(
                f"{self.path.name}: unsupported video extension {suffix or '(none)'!r}; "
                f"use one of {', '.join(sorted(_FORMATS))}"
            )
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"{self.path.parent}: output folder does not exist")

        self.frames_written = 0
        self.saved = False  # True once close() has published the file under ``path``
        self._closed = False
        self._container: Any = None
        self._stream: Any = None
        self._cv_writer: Any = None
        self._av: Any = None
        self._tmp: Path | None = temp_path_for(self.path, keep_suffix=True)
        try:
            self.codec, self.pix_fmt = self._choose(codec)
            if self.codec == "mp4v":
                self._open_cv()
            else:
                self._open_av(self.codec, self.pix_fmt, crf, _FORMATS[suffix])
        except BaseException:
            self._cleanup()
            raise
        log.debug("writing %s with %s/%s to %s", self.path, self.codec, self.pix_fmt, self._tmp)

    # ---- setup ---------------------------------------------------------------------------

    def _choose(self, codec: str) -> tuple[str, str]:
        odd = self.width % 2 == 1 or self.height % 2 == 1
        av = self._av = _import_av() if codec != "mp4v" else None
        if codec == "h264":
            if av is None or not _has_encoder(av, "libx264"):
                raise RuntimeError("codec 'h264' needs PyAV with libx264 (pip install av)")
            return "libx264", "yuv444p" if odd else "yuv420p"
        if codec == "mpeg4":
            if av is None or not _has_encoder(av, "mpeg4"):
                raise RuntimeError("codec 'mpeg4' needs PyAV (pip install av)")
            return "mpeg4", "yuv420p"
        if codec == "auto" and av is not None:
            if not odd and _has_encoder(av, "libx264"):
                return "libx264", "yuv420p"
            if _has_encoder(av, "mpeg4"):
                return "mpeg4", "yuv420p"
            if _has_encoder(av, "libx264"):
                return "libx264", "yuv444p"
        if codec == "auto":
            log.info("PyAV H.264/MPEG-4 encoders unavailable; writing %s with OpenCV mp4v", self.path.name)
        return "mp4v", "bgr24"

    def _open_av(self, codec: str, pix_fmt: str, crf: int, fmt: str) -> None:
        av = self._av
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        self._container = av.open(str(self._tmp), mode="w", format=fmt, options=options)
        if codec == "libx264":
            opts = {"crf": str(int(crf)), "preset": "fast", "x264-params": "log=-1"}
        else:
            q = int(np.clip(round((crf - 2) / 6), 2, 31))
            opts = {"qmin": str(q), "qmax": str(q)}
        st = self._container.add_stream(codec, rate=self.fps, options=opts)
        st.width, st.height, st.pix_fmt = self.width, self.height, pix_fmt
        cc = st.codec_context
        # tag the stream as BT.709 limited range (what write() converts to): without tags,
        # players guess BT.601 or BT.709 by frame size and colours shift slightly
        cc.colorspace = cc.color_primaries = cc.color_trc = _AVCOL_BT709
        cc.color_range = _AVCOL_RANGE_MPEG
        self._stream = st

    def _open_cv(self) -> None:
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        self._cv_writer = cv2.VideoWriter(
            str(self._tmp), cv2.CAP_FFMPEG, fourcc, float(self.fps), (self.width, self.height)
        )
        if not self._cv_writer.isOpened():
            raise RuntimeError(f"{self.path.name}: OpenCV cannot open a mp4v video writer")

    # ---- writing -------------------------------------------------------------------------

    def write(self, frame: np.ndarray) -> None:
        """Append one ``(height, width, 3) uint8`` RGB frame."""
        if self._closed:
            raise ValueError(f"{self.path.name}: writer is closed")
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.shape != (self.height, self.width, 3):
            raise ValueError(
                f"{self.path.name}: expected a ({self.height}, {self.width}, 3) uint8 RGB frame, "
                f"got {frame.shape} {frame.dtype}"
            )
        if self._cv_writer is not None:
            self._cv_writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
        else:
            vf = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf = vf.reformat(format=self.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
            vf.colorspace = vf.color_primaries = vf.color_trc = _AVCOL_BT709
            vf.color_range = _AVCOL_RANGE_MPEG
            vf.pts = self.frames_written
            vf.time_base = 1 / self.fps
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder, finish the file and move it to ``path`` (idempotent).

        On failure the temporary file is removed and the error re-raised.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._cv_writer is not None:
                self._cv_writer.release()
                self._cv_writer = None
            if self._container is not None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                self._container.close()
                self._container = None
            if self.frames_written == 0:
                log.warning("%s: no frames to write; no video created", self.path.name)
                self._cleanup()
                return
            assert self._tmp is not None
            publish(self._tmp, self.path)
            self._tmp = None
            self.saved = True
        except BaseException:
            self._cleanup()
            raise

    def abort(self) -> None:
        """Stop writing and remove the partial output; ``path`` is left untouched."""
        self._closed = True
        self._cleanup()

    def _cleanup(self) -> None:
        try:
            if self._cv_writer is not None:
                self._cv_writer.release()
            if self._container is not None:
                self._container.close()
        except Exception:
            log.debug("error while closing an aborted video", exc_info=True)
        finally:
            self._cv_writer = self._container = None
            _unlink(self._tmp)
            self._tmp = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        # dropped without close(): the output is incomplete, never publish it
        try:
            if not getattr(self, "_closed", True):
                self.abort()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (
            f"VideoWriter({str(self.path)!r}, {self.width}x{self.height} @ {self.fps} fps, "
            f"{self.codec}/{self.pix_fmt}, {self.frames_written} frames)"
        )


_IMAGE_FORMATS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def write_image(path: str | os.PathLike[str], rgb: np.ndarray, *, jpeg_quality: int = 95) -> Path:
    """Write an RGB ``uint8`` image atomically (see :mod:`smplestx.io.atomic`).

    The format follows the extension (.png, .jpg/.jpeg, .webp, .bmp, .tif/.tiff); a grey
    ``(H, W)`` array is accepted too. Works with non-ASCII paths. Returns ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _IMAGE_FORMATS:
        raise ValueError(
            f"{path.name}: unsupported image extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(sorted(_IMAGE_FORMATS))}"
        )
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 3)):
        raise ValueError(f"{path.name}: expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    img = rgb if rgb.ndim == 2 else np.ascontiguousarray(rgb[:, :, ::-1])
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(jpeg_quality)]
    ok, buf = cv2.imencode(suffix, img, params)
    if not ok:
        raise RuntimeError(f"{path.name}: OpenCV could not encode the image")
    # One file per frame, rewritten by a rerun: not worth an fsync each.
    return write_bytes(path, buf.tobytes(), fsync=False)


# --------------------------------------------------------------------------------------------
# reading


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


