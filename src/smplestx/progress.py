"""The one progress display: a single self-redrawing line on stderr, for terminals only.

Used by ``infer`` (frames and frames/s), ``eval`` (a bar with the time left) and the trainer (loss line).
On anything but a terminal (a log file, a CI job) it draws nothing, so logs stay clean.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressLine"]

_WIDTH = 30  # characters of the bar
_MIN_INTERVAL_S = 0.25  # redraw at most 4 times a second


class ProgressLine:
    """One status line redrawn in place with ``\\r``; a no-op unless ``enabled`` and the stream is a terminal."""

    def __init__(self, enabled: bool = True, label: str = "", stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and self.stream.isatty()
        self.label = label
        self.last = float("-inf")
        self.start = time.perf_counter()
        self._first_done: int | None = None
        self._shown = False

    def due(self) -> bool:
        """True when a redraw is wanted (rate-limited), so callers build costly text only then."""
        return self.enabled and time.monotonic() - self.last > _MIN_INTERVAL_S

    def update(self, text: str) -> None:
        """Redraw the line with ``text``."""
        if not self.enabled:
            return
        self.last = time.monotonic()
        self._shown = True
        self.stream.write("\r" + text[:160].ljust(80))
        self.stream.flush()

    def frames(self, frames: int, seconds: float) -> None:
        """Show frames done and the frame rate (rate-limited); the ``infer`` progress callback."""
        if self.due():
            self.update(f"{frames} frames  {frames / max(seconds, 1e-9):.2f} frames/s")

    def bar(self, done: int, total: int) -> None:
        """Show a bar of ``done`` of ``total`` with the rate and the time left; the ``eval`` progress callback."""
        if not self.enabled:
            return
        if self._first_done is None:
            self._first_done = done  # a resumed run: rate from what this process did
        elapsed = time.perf_counter() - self.start
        rate = (done - self._first_done) / elapsed if elapsed > 0 else 0.0
        left = f"{(total - done) / rate:.0f} s left" if rate > 0 else ""
        filled = int(_WIDTH * done / max(total, 1))
        self.update(f"{self.label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {done}/{total} {rate:.1f}/s {left}")

    def clear(self) -> None:
        """Blank the line so that a log record starts at column 0."""
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * 80 + "\r")
            self.stream.flush()

    def close(self) -> None:
        """End the line (once something was drawn)."""
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
