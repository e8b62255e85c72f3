"""The pictures behind the meshes: frames of the source image or video as JPEG, decoded on request.

A video is read forward from where the last request left it (playback costs one decode per frame); a jump
backwards or far ahead seeks to the frame's time. Only the most recent JPEGs are kept, so a long video never
sits in memory.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: JPEGs kept for frames already shown.
CACHE_FRAMES = 64
#: A request at most this many frames ahead decodes forward instead of seeking.
READ_AHEAD = 120


class FrameImages:
    """Frame number -> JPEG bytes of one source image or video."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._media = None
        self._frames: Iterator | None = None
        self._next = 0  # index of the frame the open iterator yields next

    def get(self, index: int) -> bytes | None:
        """The JPEG of frame ``index`` (None when the source has no such frame)."""
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            image = self._decode(index)
            if image is None:
                return None
            jpeg = _jpeg(image)
            self._cache[index] = jpeg
            while len(self._cache) > CACHE_FRAMES:
                self._cache.popitem(last=False)
            return jpeg

    def close(self) -> None:
        """Close the open media file."""
        with self._lock:
            self._reopen(None)

    def _reopen(self, index: int | None) -> None:
        """Close the media; reopen it (when ``index`` is given) so that frame ``index`` comes next or soon."""
        from ..pipeline.sources import open_source

        if self._media is not None:
            self._media.close()
        self._media, self._frames = None, None
        if index is None:
            return
        media = open_source(self.source)
        fps = float(getattr(media, "fps", 0) or 0)
        if getattr(media, "is_video", False) and fps > 0 and index > READ_AHEAD:
            media.close()  # far in: seek; half a frame early, so the first frame is round(time * fps) = index
            media = open_source(self.source, start=(index - 0.4) / fps)
        self._media, self._frames = media, iter(media)
        self._next = 0

    def _decode(self, index: int) -> np.ndarray | None:
        if self._frames is None or not (self._next <= index <= self._next + READ_AHEAD):
            self._reopen(index)
        for frame in self._frames:
            self._next = frame.index + 1
            if frame.index == index:
                return frame.image
            if frame.index > index:
                break
        self._reopen(None)
        return None


def _jpeg(image: np.ndarray) -> bytes:
    """An RGB image as JPEG bytes."""
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
