"""The one image reader, for inference, evaluation and training alike.

Images are decoded with OpenCV alone (``cv2.imdecode`` on bytes read with numpy, so non-ASCII
paths work everywhere) and always come out as ``(H, W, 3) uint8`` RGB:

* the EXIF orientation (all 8 values; JPEG, PNG ``eXIf``, WebP and TIFF) is applied, so the
  image is upright as a viewer shows it (``IMREAD_ANYDEPTH | IMREAD_ANYCOLOR`` keeps 16-bit
  depth, returns 1 or 3 channels and applies the orientation);
* 16-bit samples are scaled to 8 bits by rounding ``value / 257`` (not ``>> 8``); float
  images (TIFF) are taken as ``[0, 1]`` and clipped;
* grey images are replicated to 3 channels;
* an alpha channel is dropped, not composited.

``reference=True`` instead decodes as the reference implementation does (see :func:`read_image`).
Every problem raises :class:`MediaError` with a one-line message naming the file.

Images larger than :data:`DEFAULT_MAX_IMAGE_PIXELS` (100 megapixels; the environment variable
``SMPLESTX_MAX_IMAGE_PIXELS`` or the ``max_pixels`` argument change it) are refused. For PNG, JPEG,
BMP, WebP and GIF the size is read from the header before decoding, so a tiny file declaring a
huge picture costs nothing; other formats are checked after decoding.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import SmplestxError

__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "MediaError", "decode_image", "header_size", "max_image_pixels", "read_image"]

#: Largest image decoded by default, in pixels (a 100-megapixel RGB image is 300 MB decoded).
DEFAULT_MAX_IMAGE_PIXELS = 100_000_000
#: Environment variable that overrides the limit (a positive integer number of pixels).
MAX_PIXELS_ENV = "SMPLESTX_MAX_IMAGE_PIXELS"


class MediaError(SmplestxError, ValueError):
    """An input file is missing, of an unsupported kind, or cannot be decoded.

    The message is one line and starts with the file name, e.g.
    ``"photo.jpg: cannot decode image (truncated or not an image)"``.
    """


def _fail(path: str | os.PathLike[str], why: str) -> MediaError:
    # The path as the user gave it (not its base name): two inputs may share a name in different folders.
    return MediaError(f"{path}: {why}")


def max_image_pixels() -> int:
    """The pixel limit: ``SMPLESTX_MAX_IMAGE_PIXELS`` when set, else :data:`DEFAULT_MAX_IMAGE_PIXELS`."""
    raw = os.environ.get(MAX_PIXELS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise MediaError(f"{MAX_PIXELS_ENV}={raw!r}: must be a positive whole number of pixels")
    return value


# JPEG start-of-frame markers (SOF0..SOF15 less DHT C4, JPG C8 and DAC CC) carry the frame size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(buf: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOFn segment, walking the marker segments; None if not found."""
    i = 2
    while i + 9 <= len(buf):
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # segments without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", buf[i + 2:i + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", buf[i + 5:i + 9])
            return width, height
        if marker == 0xDA or length < 2:  # scan data before any frame header: malformed
            return None
        i += 2 + length
    return None


def header_size(data: bytes | bytearray | memoryview | np.ndarray) -> tuple[int, int] | None:
    """(width, height) declared by a PNG, JPEG, BMP, WebP or GIF header, without decoding; None otherwise."""
    # Only the first 64 KiB: JPEG metadata (EXIF, ICC) precedes the frame header but is rarely longer.
    head = bytes(memoryview(data)[:65536]) if not isinstance(data, np.ndarray) else data[:65536].tobytes()
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24 and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(head)
    if head[:2] == b"BM" and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        kind = head[12:16]
        if kind == b"VP8X":
            return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
        if kind == b"VP8 ":
            w, h = struct.unpack("<HH", head[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if kind == b"VP8L" and len(head) >= 25:
            bits = int.from_bytes(head[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _check_pixels(name: str | os.PathLike[str], width: int, height: int, limit: int) -> None:
    if width * height > limit:
        raise _fail(name, f"{width} x {height} pixels exceeds the limit of {limit} pixels "
                          f"(set {MAX_PIXELS_ENV} to allow larger images)")


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_libpng_messages() -> Iterator[None]:
    """Hold back libpng's own ``libpng error: ...`` lines, which it writes straight to file descriptor 2.

    The failure is reported as a MediaError naming the file; a second, bare line from the C library only
    confuses. Other output written meanwhile (any thread) is passed on unchanged afterwards.
    """
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to protect
            yield
            return
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                held.seek(0)
                rest = b"".join(ln for ln in held.read().splitlines(keepends=True) if not ln.startswith(b"libpng "))
                if rest:
                    os.write(2, rest)


_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR  # keeps 16 bit, applies EXIF orientation
# The reference's flags: 8-bit BGR in stored pixel order (EXIF orientation ignored).
_REFERENCE_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


def _to_rgb8(img: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    """OpenCV's decode (BGR / grey, 8 or 16 bit or float) -> (H, W, 3) uint8 RGB."""
    if img.dtype == np.uint8:
        out = img
    elif img.dtype == np.uint16:
        # round(v / 257): 65535 -> 255, 128 -> 0, 129 -> 1 (exact integer arithmetic)
        out = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        out = np.rint(np.clip(np.nan_to_num(img), 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise _fail(path, f"unsupported pixel type {img.dtype} (need 8/16-bit or float)")
    if out.ndim == 2:
        return np.ascontiguousarray(np.repeat(out[:, :, None], 3, axis=2))
    if out.ndim == 3 and out.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(out, 3, axis=2))
    if out.ndim == 3 and out.shape[2] >= 3:
        return np.ascontiguousarray(out[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped
    raise _fail(path, f"unsupported image layout {img.shape}")


def decode_image(data: bytes | bytearray | memoryview | np.ndarray, name: str = "<bytes>", *,
                 reference: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """Decode encoded image bytes like :func:`read_image` (``name`` is used in errors)."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    if buf.size == 0:
        raise _fail(name, "empty file")
    limit = max_image_pixels() if max_pixels is None else max_pixels
    declared = header_size(buf)
    if declared is not None:
        # Before decoding: a 1 MB PNG may declare 20000 x 20000 pixels (1.2 GB decoded, 3.9 GB peak).
        _check_pixels(name, *declared, limit)
    is_png = buf[:8].tobytes() == b"\x89PNG\r\n\x1a\n"
    try:
        with _without_libpng_messages() if is_png else contextlib.nullcontext():
            img = cv2.imdecode(buf, _REFERENCE_FLAGS if reference else _DECODE_FLAGS)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise _fail(name, "cannot decode image (truncated, corrupt or not an image)")
    _check_pixels(name, img.shape[1], img.shape[0], limit)  # formats whose header is not parsed here
    return _to_rgb8(img, name)


def read_image(path: str | os.PathLike[str], *, reference: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as ``(H, W, 3) uint8`` RGB, upright.

    ``reference=True`` reads pixels exactly as the reference's ``cv2.imread(path, IMREAD_COLOR |
    IMREAD_IGNORE_ORIENTATION)`` (stored pixel order, 16 bit shifted to 8 by OpenCV), which evaluation
    and training need to reproduce the published numbers.

    Formats: JPEG, PNG, WebP, BMP, TIFF, 8 or 16 bit (16 bit rounded to ``v / 257``), grey
    (replicated to 3 channels), RGB or RGBA (alpha dropped, colours kept as stored). The EXIF
    orientation tag is applied. Raises :class:`MediaError` for a missing, empty, truncated or
    non-image file, or one larger than ``max_pixels`` (default :func:`max_image_pixels`).
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except IsADirectoryError:
        raise _fail(path, "is a folder, not an image") from None
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror or e})") from None
    return decode_image(data, str(path), reference=reference, max_pixels=max_pixels)
