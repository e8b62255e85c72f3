"""Video and image output for ``smplestx infer``: atomic, in-process, exact frame size.

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
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from ..errors import UsageError
from .atomic import publish, temp_path_for, write_bytes

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
