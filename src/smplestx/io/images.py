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
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import SmplestxError

__all__ = ["MediaError", "decode_image", "read_image"]


class MediaError(SmplestxError, ValueError):
    """An input file is missing, of an unsupported kind, or cannot be decoded.

    The message is one line and starts with the file name, e.g.
    ``"photo.jpg: cannot decode image (truncated or not an image)"``.
    """


def _fail(path: str | os.PathLike[str], why: str) -> MediaError:
    # The path as the user gave it (not its base name): two inputs may share a name in different folders.
    return MediaError(f"{path}: {why}")


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
                 reference: bool = False) -> np.ndarray:
    """Decode encoded image bytes like :func:`read_image` (``name`` is used in errors)."""
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    if buf.size == 0:
        raise _fail(name, "empty file")
    try:
        img = cv2.imdecode(buf, _REFERENCE_FLAGS if reference else _DECODE_FLAGS)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise _fail(name, "cannot decode image (truncated, corrupt or not an image)")
    return _to_rgb8(img, name)


def read_image(path: str | os.PathLike[str], *, reference: bool = False) -> np.ndarray:
    """Read an image file as ``(H, W, 3) uint8`` RGB, upright.

    ``reference=True`` reads pixels exactly as the reference's ``cv2.imread(path, IMREAD_COLOR |
    IMREAD_IGNORE_ORIENTATION)`` (stored pixel order, 16 bit shifted to 8 by OpenCV), which evaluation
    and training need to reproduce the published numbers.

    Formats: JPEG, PNG, WebP, BMP, TIFF, 8 or 16 bit (16 bit rounded to ``v / 257``), grey
    (replicated to 3 channels), RGB or RGBA (alpha dropped, colours kept as stored). The EXIF
    orientation tag is applied. Raises :class:`MediaError` for a missing, empty, truncated or
    non-image file.
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
    return decode_image(data, str(path), reference=reference)
