"""The one progress display: silent off a terminal, one redrawn line on one."""

from __future__ import annotations

import io

from smplestx.progress import ProgressLine


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_off_a_terminal() -> None:
    out = io.StringIO()
    p = ProgressLine(True, "x", stream=out)
    p.bar(1, 2)
    p.frames(10, 1.0)
    p.close()
    assert out.getvalue() == ""


def test_bar_and_frames_redraw_one_line_on_a_terminal() -> None:
    out = _Tty()
    p = ProgressLine(True, "bench", stream=out)
    p.bar(0, 4)
    p.bar(2, 4)
    text = out.getvalue()
    assert text.startswith("\rbench [") and "] 2/4 " in text and "#" * 15 + "." * 15 in text and "\n" not in text
    p.close()
    assert out.getvalue().endswith("\n")
    q = ProgressLine(True, stream=_Tty())
    q.frames(50, 2.0)
    assert "50 frames  25.00 frames/s" in q.stream.getvalue()


def test_disabled_draws_nothing_even_on_a_terminal() -> None:
    out = _Tty()
    p = ProgressLine(False, stream=out)
    p.bar(1, 2)
    p.update("x")
    p.close()
    assert out.getvalue() == ""
