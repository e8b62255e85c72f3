"""Media input: images (formats, depths, EXIF orientation, corrupt files), folders, videos, prefetch."""

from __future__ import annotations

import gc
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from smplestx.pipeline.sources import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Frame,
    ImageSource,
    MediaError,
    VideoSource,
    collect_inputs,
    natural_key,
    open_source,
    prefetch,
    read_image,
)
from smplestx.io.video import VideoWriter

av = pytest.importorskip("av")
Image = pytest.importorskip("PIL.Image")

BLOCK = 8  # pixels per block of the test pattern: flat areas survive JPEG


def pattern(rows: int = 3, cols: int = 4) -> np.ndarray:
    """(rows*8, cols*8, 3) uint8 RGB: flat blocks, each a different colour (non-square)."""
    rng = np.random.default_rng(rows * 100 + cols)
    colours = rng.integers(0, 8, (rows, cols, 3)) * 32 + 16
    img = np.repeat(np.repeat(colours, BLOCK, axis=0), BLOCK, axis=1)
    return img.astype(np.uint8)


def block_means(img: np.ndarray) -> np.ndarray:
    """Mean colour of the centre 4x4 of every 8x8 block."""
    h, w = img.shape[0] // BLOCK, img.shape[1] // BLOCK
    b = img[: h * BLOCK, : w * BLOCK].reshape(h, BLOCK, w, BLOCK, 3)[:, 2:6, :, 2:6]
    return b.astype(np.float64).mean(axis=(1, 3))


def save_pil(path: Path, rgb: np.ndarray, mode: str | None = None, **kw) -> Path:
    img = Image.fromarray(rgb, mode) if mode else Image.fromarray(rgb)
    if path.suffix in (".jpg", ".jpeg"):
        kw.setdefault("quality", 100)
        kw.setdefault("subsampling", 0)
    if path.suffix == ".webp":
        kw.setdefault("lossless", True)
    img.save(path, **kw)
    return path


# ---- images: formats and depths -----------------------------------------------------------


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tiff", ".tif", ".webp", ".jpg", ".jpeg"])
def test_rgb8_formats(tmp_path: Path, ext: str) -> None:
    rgb = pattern()
    path = save_pil(tmp_path / f"img{ext}", rgb)
    out = read_image(path)
    assert out.shape == rgb.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    if ext in (".jpg", ".jpeg"):
        assert np.abs(block_means(out) - block_means(rgb)).max() < 3
    else:
        np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("ext", [".png", ".tiff", ".jpg", ".bmp"])
def test_grey8_replicated(tmp_path: Path, ext: str) -> None:
    grey = pattern()[:, :, 1]
    out = read_image(save_pil(tmp_path / f"g{ext}", grey, "L"))
    assert out.shape == (*grey.shape, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    tol = 3 if ext == ".jpg" else 0
    assert np.abs(out[..., 0].astype(int) - grey).max() <= tol


@pytest.mark.parametrize("ext", [".png", ".webp"])
def test_rgba_alpha_dropped_not_composited(tmp_path: Path, ext: str) -> None:
    rgb = pattern()
    alpha = np.tile(np.array([0, 64, 128, 255], np.uint8), rgb.size // 12)[: rgb.shape[0] * rgb.shape[1]]
    rgba = np.dstack([rgb, alpha.reshape(rgb.shape[:2])])
    out = read_image(save_pil(tmp_path / f"a{ext}", rgba, "RGBA", exact=True) if ext == ".webp"
                     else save_pil(tmp_path / f"a{ext}", rgba, "RGBA"))
    np.testing.assert_array_equal(out, rgb)  # colours of transparent pixels kept


def test_rgba_tiff_opaque(tmp_path: Path) -> None:
    rgb = pattern()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(read_image(save_pil(tmp_path / "a.tiff", rgba, "RGBA")), rgb)


def _values16() -> np.ndarray:
    # around the rounding boundaries of v / 257 (x.5 at v = 257 k + 128.5), where >> 8 differs
    v = [0, 128, 129, 385, 386, 257 * 100 + 128, 257 * 100 + 129, 65407, 65408, 65535, 1000, 40000]
    return np.array(v, np.uint16)


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_rgb16_rounded(tmp_path: Path, ext: str) -> None:
    v = _values16()
    rgb16 = np.stack([v.reshape(3, 4), v[::-1].reshape(3, 4), np.roll(v, 5).reshape(3, 4)], axis=2)
    path = tmp_path / f"rgb16{ext}"
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb16[..., ::-1]))  # OpenCV writes BGR
    out = read_image(path)
    expected = np.round(rgb16.astype(np.float64) / 257).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert (expected != (rgb16 >> 8)).any()  # the test would catch >> 8


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_grey16_and_rgba16(tmp_path: Path, ext: str) -> None:
    v = _values16().reshape(3, 4)
    assert cv2.imwrite(str(tmp_path / f"g16{ext}"), v)
    out = read_image(tmp_path / f"g16{ext}")
    expected = np.round(v / 257).astype(np.uint8)
    np.testing.assert_array_equal(out, np.dstack([expected] * 3))

    bgra = np.dstack([v, v[::-1], v.T.reshape(3, 4), np.full_like(v, 1000)])  # mostly transparent
    assert cv2.imwrite(str(tmp_path / f"a16{ext}"), bgra)
    out = read_image(tmp_path / f"a16{ext}")
    np.testing.assert_array_equal(out, np.round(bgra[..., 2::-1] / 257).astype(np.uint8))


def test_float_tiff(tmp_path: Path) -> None:
    f = np.array([[0.0, 0.5, 1.0, 2.0]], np.float32)
    assert cv2.imwrite(str(tmp_path / "f.tiff"), f)
    out = read_image(tmp_path / "f.tiff")
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255, 255])


# ---- EXIF orientation ---------------------------------------------------------------------

EXIF_UPRIGHT = {  # what a viewer shows for each EXIF orientation, from the stored pixels
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored horizontally
    3: lambda a: a[::-1, ::-1],  # rotate 180
    4: lambda a: a[::-1],  # mirrored vertically
    5: lambda a: a.transpose(1, 0, 2),  # transpose
    6: lambda a: np.rot90(a, -1),  # rotate 90 clockwise
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],  # transverse
    8: lambda a: np.rot90(a, 1),  # rotate 90 counter-clockwise
}


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_jpeg(tmp_path: Path, orientation: int) -> None:
    stored = pattern(3, 5)
    path = save_pil(tmp_path / f"o{orientation}.jpg", stored, exif=_exif(orientation))
    out = read_image(path)
    expected = EXIF_UPRIGHT[orientation](stored)
    assert out.shape == expected.shape
    assert np.abs(block_means(out) - block_means(expected)).max() < 3


@pytest.mark.parametrize("ext", [".png", ".webp", ".tiff"])
@pytest.mark.parametrize("orientation", [2, 5, 6, 7, 8])
def test_exif_orientation_other_formats(tmp_path: Path, ext: str, orientation: int) -> None:
    stored = pattern(3, 5)
    path = save_pil(tmp_path / f"o{orientation}{ext}", stored, exif=_exif(orientation))
    np.testing.assert_array_equal(read_image(path), EXIF_UPRIGHT[orientation](stored))


def test_exif_orientation_16bit_png(tmp_path: Path) -> None:
    stored = pattern(3, 5).astype(np.uint16) * 257
    path = tmp_path / "o6_16.png"
    tiff_exif = np.frombuffer(_exif(6)[6:], np.uint8)  # eXIf chunk holds the TIFF part only
    assert cv2.imwriteWithMetadata(str(path), stored[..., ::-1].copy(), [cv2.IMAGE_METADATA_EXIF], [tiff_exif])
    np.testing.assert_array_equal(read_image(path), np.rot90(pattern(3, 5), -1))


# ---- bad files, names ---------------------------------------------------------------------


def _jpeg_bytes() -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.resize(pattern(), (320, 240)))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    "name, data",
    [
        ("truncated.jpg", lambda: _jpeg_bytes()[: len(_jpeg_bytes()) // 2]),
        ("cut_one_byte.jpg", lambda: _jpeg_bytes()[:-1]),
        ("random.png", lambda: np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()),
        ("empty.jpg", lambda: b""),
        ("text.tiff", lambda: b"this is not an image\n" * 10),
    ],
)
def test_corrupt_images(tmp_path: Path, name: str, data) -> None:
    path = tmp_path / name
    path.write_bytes(data())
    with pytest.raises(MediaError, match=name.replace(".", r"\.")) as info:
        read_image(path)
    assert "\n" not in str(info.value)
    with pytest.raises(MediaError, match=name.replace(".", r"\.")):
        list(open_source(path))


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(MediaError, match="nope.png"):
        ImageSource(tmp_path / "nope.png")


def test_non_ascii_name(tmp_path: Path) -> None:
    folder = tmp_path / "fotos ñandú"
    folder.mkdir()
    rgb = pattern()
    path = save_pil(folder / "写真 café.png", rgb)
    np.testing.assert_array_equal(read_image(path), rgb)
    np.testing.assert_array_equal(read_image(str(path)), rgb)
    assert collect_inputs([folder]) == [path]


def test_image_source(tmp_path: Path) -> None:
    rgb = pattern()
    path = save_pil(tmp_path / "a.png", rgb)
    src = open_source(path)
    assert isinstance(src, ImageSource) and not src.is_video
    frames = list(src)
    assert len(frames) == 1
    f = frames[0]
    assert isinstance(f, Frame) and f.index == 0 and f.time_s == 0.0 and f.source == path
    np.testing.assert_array_equal(f.image, rgb)
    with src:
        assert len(list(src)) == 1  # re-iterable


# ---- folders --------------------------------------------------------------------------------


def test_extensions() -> None:
    assert {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS
    assert {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"} <= VIDEO_EXTENSIONS
    assert sorted(["frame10", "frame2", "Frame1", "frame2b"], key=natural_key) == [
        "Frame1",
        "frame2",
        "frame2b",
        "frame10",
    ]


def test_collect_inputs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "in"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / ".hidden_dir").mkdir()
    names = ["frame10.png", "frame2.JPG", "frame1.png", "clip.mp4", "notes.txt", ".x.jpg", "frame2.png"]
    for n in names:
        (d / n).write_bytes(b"x")
    (d / "sub" / "frame3.png").write_bytes(b"x")
    (d / "sub" / "deeper" / "a.mov").write_bytes(b"x")
    (d / ".hidden_dir" / "h.png").write_bytes(b"x")
    single = tmp_path / "single.webp"
    single.write_bytes(b"x")

    with caplog.at_level(logging.DEBUG, logger="smplestx.pipeline.sources"):
        flat = collect_inputs([single, d])
    assert [p.name for p in flat] == [
        "single.webp",
        "clip.mp4",
        "frame1.png",
        "frame2.JPG",
        "frame2.png",
        "frame10.png",
    ]
    assert "notes.txt" in caplog.text

    deep = collect_inputs([d], recursive=True)
    rel = [p.relative_to(d).as_posix() for p in deep]
    assert rel == [
        "clip.mp4",
        "frame1.png",
        "frame2.JPG",
        "frame2.png",
        "frame10.png",
        "sub/deeper/a.mov",
        "sub/frame3.png",
    ]
    # explicit files keep the given order; duplicates are listed once
    assert collect_inputs([d / "frame10.png", d / "frame1.png", str(d / "frame10.png")]) == [
        d / "frame10.png",
        d / "frame1.png",
    ]
    assert collect_inputs([d / "frame1.png", d])[0] == d / "frame1.png"
    assert len(collect_inputs([d / "frame1.png", d])) == len(flat) - 1


def test_collect_inputs_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="missing.jpg: no such file"):
        collect_inputs([tmp_path / "missing.jpg"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(MediaError, match=r"notes\.txt: unsupported file type '\.txt'"):
        collect_inputs([tmp_path / "notes.txt"])
    with pytest.raises(MediaError, match="notes.txt"):
        open_source(tmp_path / "notes.txt")
    assert collect_inputs([]) == []


# ---- videos ---------------------------------------------------------------------------------

W, H, FPS, N = 64, 48, 10, 30


def index_image(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A frame whose index is readable after lossy compression: flat colours, 8 levels apart."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (8 * i % 256, 255 - 8 * i % 256, 128)
    img[: h // 2, : w // 2] = (255, 255, 255)  # a corner to check orientation
    return img


def read_index(img: np.ndarray) -> int:
    h, w = img.shape[:2]
    return round(float(img[h * 3 // 4 - 2 : h * 3 // 4 + 2, w * 3 // 4 - 2 : w * 3 // 4 + 2, 0].mean()) / 8)


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "short.mp4"
    with VideoWriter(path, FPS, W, H) as vw:
        for i in range(N):
            vw.write(index_image(i))
    return path


@pytest.fixture(scope="module")
def noisy_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like short_video, with noise in the top-right quadrant: every frame is about as big."""
    path = tmp_path_factory.mktemp("video") / "noisy.mp4"
    rng = np.random.default_rng(3)
    with VideoWriter(path, FPS, W, H) as vw:
        for i in range(N):
            img = index_image(i)
            img[: H // 2, W // 2 :] = rng.integers(0, 256, (H // 2, W // 2, 3), dtype=np.uint8)
            vw.write(img)
    return path


def write_with_pyav(path: Path, n: int, fps: int = FPS, gop: int = 10, rotation=None) -> Path:
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=fps, options={"g": str(gop), "x264-params": "log=-1"})
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        if rotation is not None:
            st.set_display_rotation(*rotation)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(index_image(i % 32), format="rgb24")
            f.pts = i
            for p in st.encode(f):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


def test_video_roundtrip(short_video: Path) -> None:
    with open_source(short_video) as src:
        assert isinstance(src, VideoSource) and src.is_video
        assert (src.width, src.height) == (W, H)
        assert src.fps == pytest.approx(FPS)
        assert src.frame_count == N
        assert src.duration_s == pytest.approx(N / FPS, abs=0.05)
        assert src.estimated_frames == N
        frames = list(src)
        assert [f.index for f in frames] == list(range(N))
        assert [f.time_s for f in frames] == pytest.approx([i / FPS for i in range(N)], abs=1e-6)
        for f in frames:
            assert f.image.shape == (H, W, 3) and f.image.dtype == np.uint8
            assert f.source == short_video
            assert read_index(f.image) == f.index
            assert f.image[2, 2].min() > 240  # white corner top-left: not flipped
        assert [f.index for f in src] == list(range(N))  # a second pass restarts


@pytest.mark.parametrize(
    "start, end, stride, expected",
    [
        (None, None, 1, list(range(N))),
        (None, None, 7, [0, 7, 14, 21, 28]),
        (1.0, None, 1, list(range(10, N))),
        (1.05, 2.0, 1, list(range(11, 20))),
        (0.5, 2.0, 4, [5, 9, 13, 17]),
        (None, 0.35, 1, [0, 1, 2, 3]),
        (2.95, None, 1, []),
        (10.0, None, 1, []),
    ],
)
def test_video_selection(short_video: Path, start, end, stride, expected) -> None:
    with VideoSource(short_video, start=start, end=end, stride=stride) as src:
        frames = list(src)
        assert [f.index for f in frames] == expected
        assert [f.time_s for f in frames] == pytest.approx([i / FPS for i in expected], abs=1e-6)
        assert [read_index(f.image) for f in frames] == expected
        assert src.estimated_frames == len(expected)


def test_video_seek_with_keyframes(tmp_path: Path) -> None:
    path = write_with_pyav(tmp_path / "gop.mkv", 120, gop=10)
    with VideoSource(path, start=7.3, end=9.0, stride=3) as src:
        frames = list(src)
    assert [f.index for f in frames] == [73, 76, 79, 82, 85, 88]
    assert [read_index(f.image) for f in frames] == [i % 32 for i in (73, 76, 79, 82, 85, 88)]
    assert frames[0].time_s == pytest.approx(7.3)


def test_video_bad_arguments(short_video: Path) -> None:
    for kw in ({"stride": 0}, {"start": -1.0}, {"start": 2.0, "end": 1.0}, {"stride": 1.5}):
        with pytest.raises(ValueError):
            VideoSource(short_video, **kw)


def test_video_is_lazy(short_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = []
    real = VideoSource._decode_iter

    def counting(self):
        for frame in real(self):
            decoded.append(frame.pts)
            yield frame

    monkeypatch.setattr(VideoSource, "_decode_iter", counting)
    with VideoSource(short_video) as src:
        it = iter(src)
        first_two = [next(it), next(it)]
        assert [f.index for f in first_two] == [0, 1]
        assert len(decoded) <= 3  # only what was asked for (plus the frame probed at open)


def test_video_odd_size_kept(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, FPS, 65, 49) as vw:
        for i in range(5):
            vw.write(index_image(i, 65, 49))
    with VideoSource(path) as src:
        assert (src.width, src.height) == (65, 49)
        frames = list(src)
    assert [f.image.shape for f in frames] == [(49, 65, 3)] * 5
    assert [read_index(f.image) for f in frames] == list(range(5))


@pytest.mark.parametrize(
    "rotation, upright",
    [
        ((-90,), lambda a: np.rot90(a, -1)),  # phone held upright: "rotate 90" clockwise
        ((90,), lambda a: np.rot90(a, 1)),
        ((180,), lambda a: a[::-1, ::-1]),
        ((0, True, False), lambda a: a[:, ::-1]),
        ((-90, True, False), lambda a: a.transpose(1, 0, 2)),
    ],
)
def test_video_display_rotation(tmp_path: Path, rotation, upright) -> None:
    path = write_with_pyav(tmp_path / "rot.mp4", 3, rotation=rotation)
    expected = upright(index_image(1))
    with VideoSource(path) as src:
        assert (src.height, src.width) == expected.shape[:2]
        frames = list(src)
    assert len(frames) == 3
    img = frames[1].image
    assert img.shape == expected.shape
    assert np.abs(img.astype(int) - expected).mean() < 4


@pytest.mark.parametrize(
    "name, data",
    [
        ("empty.mp4", b""),
        ("random.mp4", np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes()),
        ("text.mkv", b"not a video at all\n" * 50),
    ],
)
def test_corrupt_video_on_open(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(MediaError, match=name.replace(".", r"\.") + ": ") as info:
        VideoSource(path)
    assert "\n" not in str(info.value)
    with pytest.raises(MediaError, match="missing.mp4: no such file"):
        open_source(tmp_path / "missing.mp4")


def test_truncated_video_ends_cleanly_with_warning(
    noisy_video: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PyAV/FFmpeg just stop at the cut (no exception); we log a warning from the index count."""
    data = noisy_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # moov is at the front (faststart): still opens
    with caplog.at_level(logging.WARNING, logger="smplestx.pipeline.sources"):
        with VideoSource(cut) as src:
            frames = list(src)
    assert 0 < len(frames) < N
    assert [read_index(f.image) for f in frames] == list(range(len(frames)))
    assert "truncated" in caplog.text and "cut.mp4" in caplog.text


def test_corrupted_video_middle(noisy_video: Path, tmp_path: Path) -> None:
    """Garbage in the middle: the frames before it come out intact, then one MediaError names the file and frame.

    Never a silent end (the run would report a short video as complete) and never garbage frames passed on:
    the decoder refuses the damaged packet, and the error says where, so the input is reported as failed.
    """
    data = bytearray(noisy_video.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 1500] = np.random.default_rng(2).integers(0, 256, 1500, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    got = []
    with pytest.raises(MediaError) as info:
        with VideoSource(bad) as src:
            for f in src:
                got.append(f)
    assert 0 < len(got) < N
    message = str(info.value)
    assert message.startswith(f"{bad}: decoding failed at frame {len(got)} (") and "\n" not in message
    assert [f.index for f in got] == list(range(len(got)))
    assert [read_index(f.image) for f in got] == list(range(len(got)))  # every frame before the damage is intact


def test_closed_video_source(short_video: Path) -> None:
    src = VideoSource(short_video)
    src.close()
    src.close()
    with pytest.raises(MediaError, match="closed"):
        list(src)


# ---- prefetch -------------------------------------------------------------------------------


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "smplestx-prefetch" and t.is_alive()]


def _wait_no_threads(timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while _prefetch_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _prefetch_threads()


def test_prefetch_order_and_end() -> None:
    assert list(prefetch(range(100), depth=3)) == list(range(100))
    assert list(prefetch([], depth=1)) == []
    _wait_no_threads()


def test_prefetch_propagates_exceptions() -> None:
    def gen():
        yield 1
        yield 2
        raise MediaError("clip.mp4: decoding failed at frame 2 (boom)")

    it = prefetch(gen(), depth=4)
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(MediaError, match="frame 2"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    _wait_no_threads()


def test_prefetch_stops_early_and_closes_source() -> None:
    state = {"produced": 0, "closed": False}

    def endless():
        try:
            while True:
                state["produced"] += 1
                yield state["produced"]
        finally:
            state["closed"] = True

    with prefetch(endless(), depth=2) as it:
        assert [next(it) for _ in range(3)] == [1, 2, 3]
    assert state["closed"]
    assert state["produced"] <= 3 + 2 + 2  # bounded read-ahead
    _wait_no_threads()

    # dropping the iterator without close() stops the thread too
    state["closed"] = False
    it = prefetch(endless(), depth=2)
    next(it)
    del it
    gc.collect()
    _wait_no_threads()
    assert state["closed"]


def test_prefetch_video(short_video: Path) -> None:
    with VideoSource(short_video, stride=2) as src, prefetch(src, depth=4) as frames:
        idx = [f.index for f in frames]
    assert idx == list(range(0, N, 2))
    _wait_no_threads()


def test_source_closed_while_prefetching(noisy_video: Path) -> None:
    """Closing the source under a running prefetch thread must not crash: the thread just ends."""
    for _ in range(5):
        src = VideoSource(noisy_video)
        it = prefetch(src, depth=1)
        assert next(it).index == 0
        src.close()  # the producer may be decoding right now
        rest = list(it)  # ends cleanly (at most the frames already queued / in flight)
        assert len(rest) <= 3
        _wait_no_threads()
