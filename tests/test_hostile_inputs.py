"""Hostile input and faults (issue 11): each case keeps its exit code, its one-line message, and loses nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from smplestx.cli import main


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def _picture(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((96, 72, 3)) * 255).astype(np.uint8)


def test_output_folder_equal_to_input_folder_overwrites_nothing(tiny_ckpt, tiny_config, parity_body, tmp_path, caplog):
    """Data loss 1: `infer d --output d` with the user's own `a_overlay.png` beside `a.png`, run twice."""
    from smplestx.io.video import write_image

    d = tmp_path / "d"
    d.mkdir()
    write_image(d / "a.png", _picture(0))
    write_image(d / "a_overlay.png", _picture(1))  # the user's file, not ours
    before = _digest(d)
    args = ["infer", str(d), "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config), "--body-models",
            str(parity_body), "--detector", "full", "--output", str(d), "--dtype", "fp32", "-q"]
    assert main(args) == 0
    after = _digest(d)
    assert {k: after[k] for k in before} == before  # no input modified
    first = json.loads((d / "summary.json").read_text())
    assert sorted(Path(i["path"]).name for i in first["inputs"]) == ["a.png", "a_overlay.png"]
    assert (d / "a_2_overlay.png").is_file() and (d / "a_overlay_overlay.png").is_file()
    # The rerun reads neither its own overlays as inputs nor redoes finished work.
    assert main(args) == 0
    second = json.loads((d / "summary.json").read_text())
    assert sorted(Path(i["path"]).name for i in second["inputs"]) == ["a.png", "a_overlay.png"]
    assert second["skipped"] == 2
    assert not list(d.glob("*_overlay_overlay_overlay*")) and not list(d.glob("a_2_overlay_overlay*"))
    assert {k: _digest(d)[k] for k in before} == before
    # A third run still knows the outputs (the second summary kept the list of what the first wrote).
    assert main(args) == 0
    assert sorted(Path(i["path"]).name for i in json.loads((d / "summary.json").read_text())["inputs"]) == \
        ["a.png", "a_overlay.png"]


@pytest.mark.parametrize("option, value, words", [
    ("--max-people", "-2", "must be >= 1"),
    ("--score-threshold", "nan", "not a finite number"),
    ("--nms-iou", "5", "must be <= 1"),
    ("--start", "-1", "must be >= 0"),
    ("--stride", "0", "must be >= 1"),
    ("--batch-size", "x", "not an integer"),
])
def test_bad_options_fail_at_parse_time_in_one_line(option, value, words, tmp_path, capsys):
    """Validated before anything loads: the checkpoint named here does not even exist."""
    code = main(["infer", str(tmp_path), "--checkpoint", str(tmp_path / "none.pth.tar"), "--body-models",
                 str(tmp_path), option, value])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and option in err and words in err, err


def test_end_before_start_and_eval_interval_zero(tmp_path, capsys):
    assert main(["infer", str(tmp_path), "--checkpoint", "x", "--body-models", "y", "--start", "5", "--end", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--end 2 must be after --start 5" in err and len(err.splitlines()) == 1
    assert main(["eval", "--benchmark", "synthetic", "--data-dir", str(tmp_path), "--checkpoint", "x",
                 "--body-models", "y", "--interval", "0"]) == 2
    assert "--interval" in capsys.readouterr().err


@pytest.mark.parametrize("boxes, words", [
    ('{"frames": {"0": [[NaN, 0, 10, 10]]}}', "not a finite pixel position"),
    ('{"frames": {"0": [[0, 0, Infinity, 10]]}}', "not a finite pixel position"),
    ('{"frames": {"0": [[0, 0, 1e309, 10]]}}', "not a finite pixel position"),
    ('{"frames": {"-1": [[0, 0, 10, 10]]}}', "frame -1 is negative"),
    ('{"frames": {"0": [{"box": [0, 0, 10, 10], "score": 7}]}}', "score 7 is not in [0, 1]"),
])
def test_bad_numbers_in_a_boxes_file(boxes, words, tmp_path):
    from smplestx.pipeline.detectors import BoxesFileDetector, DetectorError

    path = tmp_path / "boxes.json"
    path.write_text(boxes)
    with pytest.raises(DetectorError) as info:
        BoxesFileDetector(path)
    assert words in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def _run_args(inputs: Path, out: Path, tiny_ckpt, tiny_config, parity_body, *extra: str) -> list[str]:
    return ["infer", str(inputs), "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config), "--body-models",
            str(parity_body), "--detector", "full", "--output", str(out), "--dtype", "fp32", "-q", *extra]


def _video(path: Path, frames: int) -> None:
    from smplestx.io.video import VideoWriter

    with VideoWriter(path, 10.0, 72, 96) as vw:
        for i in range(frames):
            vw.write(_picture(i))


def test_truncated_video_is_a_failed_partial_input(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    video = tmp_path / "in" / "cut.mp4"
    video.parent.mkdir()
    _video(video, 40)
    data = video.read_bytes()
    video.write_bytes(data[: int(len(data) * 0.45)])  # the tail of the file is gone
    out = tmp_path / "out"
    assert main(_run_args(video.parent, out, tiny_ckpt, tiny_config, parity_body, "--no-render")) == 1
    err = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    item = summary["inputs"][0]
    assert not item["ok"] and "of 40 frames" in item["error"] and str(video) in err
    assert 0 < item["frames"] < 40 and (out / "cut.npz").is_file()  # the frames read are kept


def test_start_beyond_the_end_is_said(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    video = tmp_path / "in" / "short.mp4"
    video.parent.mkdir()
    _video(video, 10)
    out = tmp_path / "out"
    assert main(_run_args(video.parent, out, tiny_ckpt, tiny_config, parity_body, "--no-render", "--start", "50")) == 1
    assert "no frames between --start and --end" in capsys.readouterr().err


def test_second_run_on_the_same_folder_is_refused_and_stale_temporaries_go(tiny_ckpt, tiny_config, parity_body,
                                                                          tmp_path, capsys):
    import fcntl

    inputs = tmp_path / "in"
    inputs.mkdir()
    from smplestx.io.video import write_image

    write_image(inputs / "a.png", _picture(3))
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".smplestx.lock", "a+") as held:  # as a running smplestx would hold it
        fcntl.flock(held, fcntl.LOCK_EX)
        assert main(_run_args(inputs, out, tiny_ckpt, tiny_config, parity_body)) == 2
        err = capsys.readouterr().err.strip()
        assert "being written by another smplestx run" in err and len(err.splitlines()) == 1
    # What a killed run leaves behind for this input is removed by the next run; others' files are not.
    (out / ".a.npz.k3j4h5g6.smplestx-partial").mkdir()
    (out / ".a_overlay.mp4.0123abcd.smplestx-partial.mp4").write_bytes(b"half")
    (out / ".a.b.npz.zzzzzzzz.smplestx-partial").write_bytes(b"another input's")
    (out / "notes.txt").write_text("the user's")
    assert main(_run_args(inputs, out, tiny_ckpt, tiny_config, parity_body)) == 0
    left = sorted(p.name for p in out.iterdir())
    assert left == [".a.b.npz.zzzzzzzz.smplestx-partial", "a.npz", "a_overlay.png", "notes.txt", "summary.json"]


@pytest.mark.slow
def test_sigterm_is_handled_like_ctrl_c(tiny_ckpt, tiny_config, parity_body, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import smplestx

    inputs = tmp_path / "in"
    inputs.mkdir()
    _video(inputs / "long.mp4", 400)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(smplestx.__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "smplestx", *_run_args(inputs, out, tiny_ckpt, tiny_config, parity_body)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(out.glob(".long*")):  # writing has begun (temporaries)
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "terminated" in err and len(err.strip().splitlines()) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]  # nothing half-written left
    # The summary says how far the run got (it said `inputs: []`, `frames: 0`): the video, partial, its frames.
    [video] = summary["inputs"]
    assert video["path"].endswith("long.mp4") and video["partial"] is True and video["outputs"] == []
    assert summary["frames"] == video["frames"] and summary["failures"] == 0
    assert f"interrupted after {video['frames']} frame(s)" in video["error"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _tiny_safetensors(tiny_ckpt: Path, tiny_config: Path, out: Path, *, config_edit=None, tensor_edit=None) -> Path:
    """The tiny model converted to safetensors, with its stored config and tensors optionally edited."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from smplestx.models.checkpoint import CONFIG_METADATA_KEY, convert_checkpoint

    convert_checkpoint(tiny_ckpt, out, config=tiny_config)
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta[CONFIG_METADATA_KEY])
    if config_edit:
        config_edit(cfg)
    if tensor_edit:
        tensor_edit(tensors)
    save_file(tensors, str(out), metadata={**meta, CONFIG_METADATA_KEY: json.dumps(cfg)})
    return out


@pytest.mark.parametrize("key, value, words", [
    ("depth", 100000, "depth = 100000 must be between 1 and 256"),
    ("embed_dim", -64, "embed_dim = -64 must be between 1 and 8192"),
    ("num_heads", 5, "embed_dim = 64 is not divisible by num_heads = 5"),
    ("depth", 3, "depth 3 but 2 encoder blocks"),  # in range, but not what the tensors hold
])
def test_checkpoint_config_is_checked_before_anything_is_built(key, value, words, tiny_ckpt, tiny_config,
                                                               parity_body, tmp_path, capsys):
    """DoS 2: a small file declaring a huge network is refused at once, in one line naming the file."""
    ckpt = _tiny_safetensors(tiny_ckpt, tiny_config, tmp_path / "m.safetensors",
                             config_edit=lambda c: c["encoder"].__setitem__(key, value))
    (tmp_path / "in").mkdir()
    code = main(["infer", str(tmp_path / "in"), "--checkpoint", str(ckpt), "--body-models", str(parity_body),
                 "--output", str(tmp_path / "out"), "-q"])
    err = _one_line_error(capsys)
    assert code == 2 and words in err and str(ckpt) in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_nan_weights_are_refused_at_load(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    """Bad values 4: a NaN in the weights would give NaN results with exit 0."""
    def poison(t: dict) -> None:
        t["decoder.token_conv.weight"][0, 0] = float("nan")

    ckpt = _tiny_safetensors(tiny_ckpt, tiny_config, tmp_path / "m.safetensors", tensor_edit=poison)
    (tmp_path / "in").mkdir()
    code = main(["infer", str(tmp_path / "in"), "--checkpoint", str(ckpt), "--body-models", str(parity_body),
                 "--output", str(tmp_path / "out"), "-q"])
    err = _one_line_error(capsys)
    assert code == 2 and "NaN or infinite values in decoder.token_conv.weight" in err and str(ckpt) in err, err


@pytest.mark.parametrize("old, new, words", [
    ("'bbox_ratio': 1.2,", "'bbox_ratio': 1/0,", "cannot compute 1 / 0 (division by zero)"),
    ("'bbox_ratio': 1.2,", "'bbox_ratio': " + "+".join(["1"] * 30000) + ",", "nested"),
    ("'embed_dim': 64,", "'embed_dim': -64,", "embed_dim = -64 must be between 1 and 8192"),
    ("'bbox_ratio': 1.2,", "'bbox_ratio': float('nan'),", "only literal values"),
    ("'bbox_ratio': 1.2,", "'bbox_ratio': 1e308*10,", "bbox_ratio = inf must be a finite number"),
])
def test_hostile_config_file_is_one_line(old, new, words, tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    """Tracebacks 3: division by zero, a 30,000-term sum, a negative width in config_base.py."""
    text = tiny_config.read_text()
    assert old in text
    cfg = tmp_path / "config_base.py"
    cfg.write_text(text.replace(old, new, 1))
    (tmp_path / "in").mkdir()
    code = main(["infer", str(tmp_path / "in"), "--checkpoint", str(tiny_ckpt), "--config", str(cfg),
                 "--body-models", str(parity_body), "--output", str(tmp_path / "out"), "-q"])
    err = _one_line_error(capsys)
    assert code == 2 and words in err and str(cfg) in err, err


def _png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares width x height grey pixels (its pixel data is a token)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def test_huge_declared_image_is_refused_before_decoding(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    """DoS 1: 20000 x 20000 is refused from the header (no 3.9 GB decode, no `libpng error:` line)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "big.png").write_bytes(_png_declaring(20000, 20000))
    before = _digest(inputs)
    out = tmp_path / "out"
    assert main(_run_args(inputs, out, tiny_ckpt, tiny_config, parity_body)) == 1
    err = capsys.readouterr().err
    assert "libpng" not in err and "Traceback" not in err, err
    line = next(ln for ln in err.splitlines() if "big.png" in ln)
    assert "20000 x 20000 pixels exceeds the limit of 100000000 pixels" in line and "SMPLESTX_MAX_IMAGE_PIXELS" in line
    assert line.count("big.png") == 1
    assert _digest(inputs) == before
    assert not [p.name for p in out.iterdir() if "partial" in p.name or p.name.startswith(".")]


def test_image_pixel_limit_is_settable_and_checked_for_every_format(tmp_path, monkeypatch):
    import cv2

    from smplestx.io.images import MediaError, decode_image, header_size, read_image

    picture = _picture(5)  # 72 x 96
    for ext in (".png", ".jpg", ".bmp", ".webp", ".tiff"):
        ok, data = cv2.imencode(ext, picture)
        assert ok
        if ext != ".tiff":
            assert header_size(data.tobytes()) == (72, 96), ext
        assert decode_image(data.tobytes(), "x" + ext, max_pixels=72 * 96).shape == (96, 72, 3)
        with pytest.raises(MediaError, match=rf"^x\{ext}: 72 x 96 pixels exceeds the limit of 6911 pixels"):
            decode_image(data.tobytes(), "x" + ext, max_pixels=72 * 96 - 1)
    path = tmp_path / "a.png"
    path.write_bytes(cv2.imencode(".png", picture)[1].tobytes())
    monkeypatch.setenv("SMPLESTX_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(MediaError, match="exceeds the limit of 1000 pixels"):
        read_image(path)
    monkeypatch.setenv("SMPLESTX_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(MediaError, match="SMPLESTX_MAX_IMAGE_PIXELS='lots': must be a positive whole number"):
        read_image(path)


def test_zero_byte_file_is_named_once(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "zero.jpg").write_bytes(b"")
    assert main(_run_args(inputs, tmp_path / "out", tiny_ckpt, tiny_config, parity_body)) == 1
    err = capsys.readouterr().err
    assert f"{inputs / 'zero.jpg'}: empty file" in err
    assert all(line.count("zero.jpg") <= 1 for line in err.splitlines()), err


def _body_copy(parity_body: Path, tmp_path: Path, edit=None, raw: bytes | None = None) -> Path:
    """A copy of the parity body-model folder with SMPLX_NEUTRAL.npz edited (arrays) or replaced (bytes)."""
    import shutil

    body = tmp_path / "body"
    shutil.copytree(parity_body, body)
    npz = body / "SMPLX_NEUTRAL.npz"
    if raw is not None:
        npz.write_bytes(raw)
    if edit is not None:
        with np.load(npz) as f:
            arrays = {k: f[k] for k in f.files}
        edit(arrays)
        np.savez(npz, **arrays)
    return body


def _nan_vertex(a: dict) -> None:
    a["v_template"] = a["v_template"].copy()
    a["v_template"][5, 1] = np.nan


@pytest.mark.parametrize("case, words", [
    ("truncated", "truncated or corrupt .npz"),
    ("text", "not an .npz file (it is not a zip archive)"),
    ("short_v_template", "array 'v_template' has shape"),
    ("nan_v_template", "array 'v_template' holds NaN or infinite values"),
])
def test_bad_body_model_file_is_one_line(case, words, tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    """Tracebacks 3 / bad values 4 / weak messages 5: the right file and the right array are named."""
    data = (parity_body / "SMPLX_NEUTRAL.npz").read_bytes()
    if case == "truncated":
        body = _body_copy(parity_body, tmp_path, raw=data[: len(data) // 2])
    elif case == "text":
        body = _body_copy(parity_body, tmp_path, raw=b"this is not a model\n")
    elif case == "short_v_template":
        body = _body_copy(parity_body, tmp_path, edit=lambda a: a.__setitem__("v_template", a["v_template"][:-7]))
    else:
        body = _body_copy(parity_body, tmp_path, edit=_nan_vertex)
    inputs = tmp_path / "in"
    inputs.mkdir()
    from smplestx.io.video import write_image

    write_image(inputs / "a.png", _picture(0))
    out = tmp_path / "out"
    code = main(_run_args(inputs, out, tiny_ckpt, tiny_config, body))
    err = _one_line_error(capsys)
    assert code == 2 and words in err and str(body / "SMPLX_NEUTRAL.npz") in err, err
    assert "pickled" not in err and "J_regressor" not in err.split("like")[0]
    assert not out.exists() or not [p for p in out.iterdir() if p.name != "summary.json"]


def test_pickle_refusal_never_suggests_disabling_the_check(tmp_path):
    """Weak messages 5: torch's advice to re-run with weights_only=False is not repeated."""
    import os

    import torch

    from smplestx.models.checkpoint import CheckpointError, read_checkpoint

    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "evil.pth.tar"
    torch.save({"network": {"a": torch.zeros(1)}, "x": Payload()}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    msg = str(info.value)
    assert "weights_only" not in msg and "False" not in msg and "\n" not in msg
    assert str(path) in msg and "posix.getcwd" in msg


def test_unsafe_pickle_in_an_eval_asset_is_a_user_error(tmp_path):
    """Tracebacks 3: a pickle payload in SMPLX_to_J14.pkl is a SmplestxError (the CLI prints one line)."""
    import pickle

    from smplestx.body.model_files import read_array_pickle
    from smplestx.errors import SmplestxError

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "SMPLX_to_J14.pkl"
    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(SmplestxError, match=r"SMPLX_to_J14.pkl: refused to load: the pickle references builtins.print"):
        read_array_pickle(path)


def test_predict_crops_on_no_crops_gives_empty_outputs(tiny_ckpt, tiny_config, parity_body):
    """Weak messages 5: zero crops is an empty result of the right shapes, not a reshape error."""
    import torch

    from smplestx.models.loading import load_model

    model = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config)
    h, w = model.config.input_img_shape
    empty = model.predict_crops(torch.zeros(0, 3, h, w))
    one = model.predict_crops(torch.zeros(1, 3, h, w))
    assert empty.vertices.shape == (0, *one.vertices.shape[1:]) and empty.betas.shape == (0, 10)
    assert empty.joints_2d.shape == (0, 137, 2) and empty.vertices.dtype == one.vertices.dtype


def test_load_model_dtype_names_and_missing_cuda(tiny_ckpt, tiny_config, parity_body, monkeypatch):
    """Weak messages 5: dtype="fp16" is accepted; a bad name and CUDA without a GPU say what to do."""
    import torch

    from smplestx.errors import UsageError
    from smplestx.models.loading import load_model

    model = load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="bf16")
    assert next(model.net.parameters()).dtype == torch.bfloat16
    with pytest.raises(UsageError, match="unknown dtype 'half'; choose one of fp32, bf16, fp16"):
        load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, dtype="half")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="device 'cuda' requested but CUDA is not available"):
        load_model(tiny_ckpt, body_models=parity_body, config=tiny_config, device="cuda")


def test_long_and_non_utf8_file_names(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    """Weak messages 5: a 250-character name gets a short unique output name; a non-UTF-8 name works with --json."""
    import os

    import cv2

    inputs = tmp_path / "in"
    inputs.mkdir()
    png = cv2.imencode(".png", _picture(7))[1].tobytes()
    long_a, long_b = "a" * 246 + "1", "a" * 246 + "2"  # 250 characters with .png, same first 246
    for stem in (long_a, long_b):
        (inputs / f"{stem}.png").write_bytes(png)
    raw = os.path.join(os.fsencode(inputs), b"caf\xe9.png")  # Latin-1 bytes: not valid UTF-8
    with open(raw, "wb") as fh:
        fh.write(png)
    out = tmp_path / "out"
    assert main(_run_args(inputs, out, tiny_ckpt, tiny_config, parity_body, "--json", "--no-render")) == 0, \
        capsys.readouterr().err
    names = sorted(os.listdir(os.fsencode(out)))
    assert all(len(n) <= 255 - 60 for n in names), names
    npz = [n for n in names if n.endswith(b".npz")]
    assert len(npz) == 3 and len([n for n in names if n.endswith(b".json") and n != b"summary.json"]) == 3
    assert b"caf_.npz" in npz or b"caf\xe9.npz" in npz
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert sorted(Path(i["path"]).name for i in summary["inputs"]) == sorted(
        [f"{long_a}.png", f"{long_b}.png", os.fsdecode(b"caf\xe9.png")])
    for name in names:
        if name.endswith(b".json"):
            json.loads((Path(os.fsdecode(out)) / os.fsdecode(name)).read_text(encoding="utf-8"))
    assert not [n for n in names if n.startswith(b".")]


@pytest.mark.parametrize("text, override", [
    ("[train]\nlr = nan\n", None),
    ("[train]\nlr = inf\n", None),
    ("", "train.lr=nan"),
])
def test_nan_learning_rate_is_refused_when_the_config_is_read(text, override, tmp_path, capsys):
    """Bad values 4: `lr = nan` is refused before any data loads (the data folder does not even exist)."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(text + f'[data]\ndata_dir = "{tmp_path / "nowhere"}"\n')
    out = tmp_path / "out"
    code = main(["train", str(cfg), "--output", str(out), "-q", *(["--set", override] if override else [])])
    err = _one_line_error(capsys)
    assert code == 2 and "train.lr: expected a finite number" in err and str(cfg) in err, err
    assert not out.exists()


@pytest.fixture(scope="module")
def eval_data(tmp_path_factory) -> Path:
    from smplestx.synthetic.dataset import write_synthetic_dataset

    out = tmp_path_factory.mktemp("evaldata")
    write_synthetic_dataset(out, 2, seed=3, split="test", image_size=(160, 120))
    return out


@pytest.mark.parametrize("case", ["traversal", "absolute"])
def test_image_path_leaving_the_data_folder_is_refused(case, eval_data, tiny_ckpt, tiny_config, tmp_path, capsys):
    """Weak messages 5: a HumanData image_path of ../../../../x is refused, not read outside the data folder."""
    import shutil

    from smplestx.evaluate.benchmarks import get_benchmark

    data = tmp_path / "data"
    shutil.copytree(eval_data, data)
    annot = get_benchmark("synthetic").annotation_path(data)
    with np.load(annot, allow_pickle=True) as f:  # our own test file
        arrays = {k: f[k] for k in f.files}
    secret = tmp_path / "secret.jpg"
    shutil.copy(next((data / "images").rglob("*.jpg")), secret)  # readable if the loader escaped
    if case == "traversal":
        paths = arrays["image_path"].astype(object)
        paths[1] = "../" * 8 + str(secret).lstrip("/")
        arrays["image_path"] = paths.astype(str)
        words = "leaves the image folder"
    elif case == "absolute":  # leading slashes are stripped (reference quirk), then it is relative
        paths = arrays["image_path"].astype(object)
        paths[1] = "/../../../../../../../.." + str(secret)
        arrays["image_path"] = paths.astype(str)
        words = "leaves the image folder"
    np.savez(annot, **arrays)
    before = _digest(data / "images")
    out = tmp_path / "out"
    code = main(["eval", "--benchmark", "synthetic", "--data-dir", str(data), "--checkpoint", str(tiny_ckpt),
                 "--config", str(tiny_config), "--body-models", str(data / "body_models"), "--output", str(out), "-q"])
    err = _one_line_error(capsys)
    assert code == 2 and words in err, err
    assert str(annot) in err and "instance 1" in err, err
    assert _digest(data / "images") == before


def test_corrupt_png_gives_no_stray_libpng_line(capfd):
    """Weak messages 5: libpng's own `libpng error:` line (written to fd 2) is held back; the MediaError says it."""
    import struct
    import sys
    import zlib

    from smplestx.io.images import MediaError, decode_image

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bad_filters = zlib.compress(b"\x09" * (101 * 100))  # filter type 9 does not exist
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100, 100, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", bad_filters) + chunk(b"IEND", b""))
    print("before", file=sys.stderr)
    with pytest.raises(MediaError, match="^bad.png: cannot decode image"):
        decode_image(data, "bad.png")
    print("after", file=sys.stderr)
    err = capfd.readouterr().err
    assert "libpng" not in err and err.splitlines() == ["before", "after"], err


def test_huge_stride_on_a_video_still_gives_its_first_frame(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    """``--stride 1000000`` once said "fps must be positive, got 1e-05"; now it reads frame 0 and a 1-fps overlay."""
    video = tmp_path / "in" / "clip.mp4"
    video.parent.mkdir()
    _video(video, 6)
    out = tmp_path / "out"
    assert main(_run_args(video.parent, out, tiny_ckpt, tiny_config, parity_body, "--stride", "1000000")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"][0]["frames"] == 1 and (out / "clip_overlay.mp4").is_file()


def test_full_disk_names_the_file_keeps_finished_inputs_and_leaves_no_empty_folder(tiny_ckpt, tiny_config,
                                                                                   parity_body, tmp_path,
                                                                                   monkeypatch, capsys):
    import errno
    import os

    import cv2

    from smplestx.pipeline import run as run_module

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b"):
        cv2.imwrite(str(inputs / f"{name}.png"), _picture(ord(name)))
    real_write_obj = run_module.write_obj

    def write_obj(path, vertices, faces):
        if Path(path).parent.name.startswith("b_"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_obj(path, vertices, faces)

    monkeypatch.setattr(run_module, "write_obj", write_obj)
    out = tmp_path / "out"
    assert main(_run_args(inputs, out, tiny_ckpt, tiny_config, parity_body, "--save-mesh", "obj", "--no-render")) == 1
    err = capsys.readouterr().err
    assert f"{inputs / 'b.png'}: no space left on the device of {out}" in err
    summary = {Path(i["path"]).name: i for i in json.loads((out / "summary.json").read_text())["inputs"]}
    assert summary["a.png"]["ok"] and not summary["b.png"]["ok"]
    assert list((out / "a_meshes").glob("*.obj")) and not (out / "b_meshes").exists()
    assert not [p for p in out.rglob("*") if "partial" in p.name or p.name.endswith(".tmp")]


def test_missing_input_is_named_by_its_full_path(tiny_ckpt, tiny_config, parity_body, tmp_path, capsys):
    missing = tmp_path / "nowhere" / "gone.png"
    assert main(_run_args(missing, tmp_path / "out", tiny_ckpt, tiny_config, parity_body)) == 1  # a failed input
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{missing}: no such file or folder" in err, err


def test_boxes_beyond_the_video_are_reported(tiny_ckpt, tiny_config, parity_body, tmp_path, caplog):
    """Box frames past the last frame read were ignored silently; now a warning names them."""
    video = tmp_path / "in" / "clip.mp4"
    video.parent.mkdir()
    _video(video, 4)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"frames": {"0": [[4, 4, 60, 90]], "40": [[4, 4, 60, 90]], "41": [[4, 4, 60, 90]]}}))
    args = _run_args(video.parent, tmp_path / "out", tiny_ckpt, tiny_config, parity_body, "--no-render")
    args[args.index("full")] = f"boxes:{boxes}"
    with caplog.at_level("WARNING"):
        assert main(args) == 0
    assert any("frames 40..41, beyond the last frame read (3)" in r.getMessage() and str(video) in r.getMessage()
               for r in caplog.records), caplog.text
