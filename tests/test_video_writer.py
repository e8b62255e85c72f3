"""Video/image output: codecs, exact sizes, frame rates, atomic publication."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from smplestx.pipeline.sources import VideoSource, read_image
from smplestx.io.video import VideoWriter, available_codecs, fps_fraction, write_image

av = pytest.importorskip("av")


def frame(i: int, w: int, h: int) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (8 * i % 256, 200, 255 - 8 * i % 256)
    return img


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


def write(path: Path, n: int, w: int, h: int, fps=10, **kw) -> VideoWriter:
    with VideoWriter(path, fps, w, h, **kw) as vw:
        for i in range(n):
            vw.write(frame(i, w, h))
    return vw


@pytest.mark.parametrize(
    "w, h, codec, expect_codec, expect_pix",
    [
        (64, 48, "auto", "libx264", "yuv420p"),
        (65, 49, "auto", "mpeg4", "yuv420p"),
        (64, 49, "auto", "mpeg4", "yuv420p"),
        (65, 49, "h264", "libx264", "yuv444p"),
        (64, 48, "mpeg4", "mpeg4", "yuv420p"),
    ],
)
def test_roundtrip_exact_size(tmp_path: Path, w, h, codec, expect_codec, expect_pix) -> None:
    path = tmp_path / "out.mp4"
    vw = write(path, 12, w, h, codec=codec)
    assert (vw.codec, vw.pix_fmt) == (expect_codec, expect_pix)
    assert vw.saved and vw.frames_written == 12 and leftovers(tmp_path) == []
    with VideoSource(path) as src:
        assert (src.width, src.height) == (w, h)
        frames = list(src)
        assert src.codec_name == ("h264" if expect_codec == "libx264" else "mpeg4")
    assert len(frames) == 12
    for i, f in enumerate(frames):
        assert f.image.shape == (h, w, 3)
        assert np.abs(f.image.astype(int) - frame(i, w, h)).max() <= 4


def test_colour_tags_and_levels(tmp_path: Path) -> None:
    path = tmp_path / "grey.mp4"
    levels = [0, 16, 128, 235, 255]
    with VideoWriter(path, 10, 32, 32, crf=0) as vw:
        for v in levels:
            vw.write(np.full((32, 32, 3), v, np.uint8))
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_range) == (1, 1)  # BT.709, limited range
    with VideoSource(path) as src:
        assert [int(f.image[5, 5, 0]) for f in src] == levels  # full range survives


def test_opencv_fallback(tmp_path: Path) -> None:
    assert "h264" in available_codecs() and "mp4v" in available_codecs()
    path = tmp_path / "cv.mp4"
    vw = write(path, 8, 64, 48, codec="mp4v")
    assert vw.codec == "mp4v" and vw.saved
    with VideoSource(path) as src:
        assert (src.width, src.height) == (64, 48)
        frames = list(src)
    assert len(frames) == 8
    assert np.abs(frames[3].image.astype(int) - frame(3, 64, 48)).max() <= 6


@pytest.mark.parametrize("suffix", [".mkv", ".mov", ".avi", ".m4v"])
def test_containers(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    write(path, 5, 32, 24)
    with VideoSource(path) as src:
        assert len(list(src)) == 5


def test_ntsc_frame_rate(tmp_path: Path) -> None:
    assert fps_fraction(29.97) == Fraction(30000, 1001)
    assert fps_fraction(30000 / 1001) == Fraction(30000, 1001)
    assert fps_fraction(23.976) == Fraction(24000, 1001)
    assert fps_fraction(25) == 25 and fps_fraction(12.5) == Fraction(25, 2)
    assert fps_fraction(Fraction(30000, 1001)) == Fraction(30000, 1001)
    with pytest.raises(ValueError):
        fps_fraction(0)
    path = tmp_path / "ntsc.mp4"
    write(path, 30, 32, 32, fps=29.97)
    with VideoSource(path) as src:
        assert src.fps == pytest.approx(30000 / 1001, rel=1e-6)
        times = [f.time_s for f in src]
    assert times[-1] == pytest.approx(29 * 1001 / 30000, abs=1e-4)


def test_atomic_publication(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    vw = VideoWriter(path, 10, 32, 32)
    vw.write(frame(0, 32, 32))
    assert not path.exists()  # only the hidden partial file so far
    assert len(leftovers(tmp_path)) == 1 and leftovers(tmp_path)[0].startswith(".out.")
    vw.close()
    vw.close()  # idempotent
    assert path.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_interrupted_writer_leaves_nothing(tmp_path: Path, exc: type[BaseException]) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(exc):
        with VideoWriter(path, 10, 32, 32) as vw:
            for i in range(5):
                vw.write(frame(i, 32, 32))
            raise exc("stop")
    assert not path.exists() and leftovers(tmp_path) == []
    assert not vw.saved


def test_interrupted_writer_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(ValueError):
        with VideoWriter(path, 10, 32, 32) as vw:
            vw.write(frame(0, 32, 32))
            vw.write(np.zeros((10, 10, 3), np.uint8))  # wrong size -> ValueError
    assert path.read_bytes() == b"previous result" and leftovers(tmp_path) == []
    write(path, 3, 32, 32)  # a successful write replaces it
    assert path.read_bytes() != b"previous result"


def test_bad_frames_and_arguments(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "a.mp4", 10, 32, 24) as vw:
        for bad in (np.zeros((24, 32, 3), np.float32), np.zeros((24, 32), np.uint8), np.zeros((32, 24, 3), np.uint8)):
            with pytest.raises(ValueError, match="expected a"):
                vw.write(bad)
        vw.write(frame(0, 32, 24))
    with pytest.raises(ValueError, match="writer is closed"):
        vw.write(frame(0, 32, 24))
    with pytest.raises(ValueError, match="unsupported video extension"):
        VideoWriter(tmp_path / "a.gif", 10, 32, 24)
    with pytest.raises(ValueError, match="codec"):
        VideoWriter(tmp_path / "a.mp4", 10, 32, 24, codec="prores")
    with pytest.raises(FileNotFoundError):
        VideoWriter(tmp_path / "missing" / "a.mp4", 10, 32, 24)
    assert leftovers(tmp_path) == []


def test_zero_frames_creates_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "empty.mp4"
    with caplog.at_level(logging.WARNING, logger="smplestx.io.video"):
        with VideoWriter(path, 10, 32, 32) as vw:
            pass
    assert not vw.saved and not path.exists() and leftovers(tmp_path) == []
    assert "no frames" in caplog.text


def test_non_ascii_video_path(tmp_path: Path) -> None:
    path = tmp_path / "vídeo 動画.mp4"
    write(path, 3, 32, 32)
    with VideoSource(path) as src:
        assert len(list(src)) == 3


@pytest.mark.parametrize("name", ["out.png", "out.jpg", "salida ñ 画像.png", "out.webp", "out.bmp", "out.tiff"])
def test_write_image(tmp_path: Path, name: str) -> None:
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:10] = (250, 20, 60)
    rgb[10:] = (10, 200, 90)
    path = write_image(tmp_path / name, rgb)
    assert path == tmp_path / name and leftovers(tmp_path) == []
    back = read_image(path)
    tol = 0 if path.suffix in (".png", ".bmp", ".tiff") else 8
    assert np.abs(back.astype(int) - rgb)[2:8].max() <= tol  # away from the edge for JPEG/WebP
    head = path.read_bytes()[:4]
    if path.suffix == ".png":
        assert head == b"\x89PNG"
    if path.suffix == ".jpg":
        assert head[:2] == b"\xff\xd8"


def test_write_image_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported image extension"):
        write_image(tmp_path / "a.gif", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="expected"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []
