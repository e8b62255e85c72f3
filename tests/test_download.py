"""`smplestx download` and the hub's failure paths: one request, one line, nothing twice, setup checked first."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fake_hub import FakeHub

SRC = str(Path(__file__).resolve().parents[1] / "src")
WEIGHTS = os.urandom(300_000)
DIGEST = hashlib.sha256(WEIGHTS).hexdigest()
CONFIG = b"# a tiny config_base.py\n"
DETECTOR = b"not really safetensors"
DETECTOR_CONFIG = b'{"model_type": "rt_detr"}'

# Registers a tiny model and detector (announced like the big ones: 200 MiB on record), counts the sleeps of
# retries, and runs the CLI; the last stdout line is JSON. The timing starts after the heavy imports.
_DRIVER = """
import json, sys, time
from smplestx.models import zoo
zoo.MODELS["tiny-test"] = zoo.ZooModel("tiny-test", "smplest_x", "owner/tiny", "tiny.pth.tar", "config_base.py",
                                       "S", sys.argv[1], 200 * 2**20, "test licence")
zoo.DETECTORS["tiny-det"] = zoo.ZooModel("tiny-det", "detector", "owner/det", "model.safetensors", "config.json",
                                         "-", "", 200 * 2**20, "test licence")
zoo.DEFAULT_DETECTOR = "tiny-det"
if "infer" in sys.argv:
    import smplestx.pipeline.estimator  # torch and friends, before the clock starts
sleeps = []
time.sleep = sleeps.append  # huggingface_hub's retries sleep 1, 2, 4, 8, 8 s: count them instead
from smplestx.cli import main
start = time.perf_counter()
code = main(sys.argv[2:])
print(json.dumps({"code": code, "seconds": time.perf_counter() - start, "sleeps": sleeps}))
"""


@pytest.fixture
def hub():
    server = FakeHub({"owner/tiny/tiny.pth.tar": WEIGHTS, "owner/tiny/config_base.py": CONFIG,
                      "owner/det/model.safetensors": DETECTOR, "owner/det/config.json": DETECTOR_CONFIG}).start()
    yield server
    server.stop()


def _closed_port() -> str:
    with socket.socket() as s:  # bound then closed: nothing listens there, connections are refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _cli(tmp_path: Path, endpoint: str, *argv: str, sha256: str = DIGEST, offline: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SMPLESTX_"))}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=endpoint, SMPLESTX_CACHE=str(tmp_path / "cache"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=SRC, HF_HUB_DISABLE_TELEMETRY="1",
               OMP_NUM_THREADS="1")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    out = subprocess.run([sys.executable, "-c", _DRIVER, sha256, *argv], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    *printed, last = out.stdout.strip().splitlines() or [""]
    try:
        result = json.loads(last)
    except ValueError:
        raise AssertionError(f"the driver failed:\n{out.stdout}\n{out.stderr}") from None
    result.update(stdout="\n".join(printed), err_lines=[line for line in out.stderr.splitlines() if line.strip()])
    return result


def _one_line(res: dict) -> str:
    """The single stderr line of a failed command (no retries, nothing said twice)."""
    assert len(res["err_lines"]) == 1, res["err_lines"]
    assert not [s for s in res["sleeps"] if s >= 1], f"retried: slept {res['sleeps']}"
    return res["err_lines"][0]


def test_download_fetches_verifies_and_says_where(tmp_path, hub):
    res = _cli(tmp_path, hub.endpoint, "download", "tiny-test", "--detector")
    assert res["code"] == 0, res
    lines = res["stdout"].splitlines()
    files = {Path(p) for line in lines if ": " in line and not line.startswith("in ")
             for p in line.split(": ", 1)[1].split(", ")}
    contents = {p.read_bytes() for p in files}
    assert contents == {WEIGHTS, CONFIG, DETECTOR, DETECTOR_CONFIG}
    assert all(str(tmp_path / "hf") in str(p) for p in files)
    assert str(tmp_path / "hf" / "hub") in lines[-1]
    assert (tmp_path / "cache" / "verified" / f"{DIGEST}.json").is_file()  # the table's digest was checked
    announced = [line for line in res["err_lines"] if "downloading" in line]
    assert len(announced) == 2 and len(set(res["err_lines"])) == len(res["err_lines"]), res["err_lines"]
    # Later runs, offline, find everything in the cache and ask the hub nothing.
    hub.requests.clear()
    again = _cli(tmp_path, hub.endpoint, "download", "tiny-test", "--detector", offline=True)
    assert again["code"] == 0 and again["stdout"] == res["stdout"], again
    assert hub.requests == []
    # Online but the hub unreachable: the cached copies, at once and silently (one refused request, no retries).
    cut_off = _cli(tmp_path, _closed_port(), "download", "tiny-test", "--detector")
    assert cut_off["code"] == 0 and cut_off["stdout"] == res["stdout"] and cut_off["err_lines"] == [], cut_off
    assert not [s for s in cut_off["sleeps"] if s >= 1], cut_off


def test_download_checksum_mismatch_is_one_line(tmp_path, hub):
    res = _cli(tmp_path, hub.endpoint, "download", "tiny-test", sha256="0" * 64)
    assert res["code"] == 2
    errors = [line for line in res["err_lines"] if "downloading" not in line]  # the announcement, then the error
    assert len(errors) == 1 and "SHA-256" in errors[0] and DIGEST in errors[0], res["err_lines"]


def test_download_needs_a_name_and_knows_the_names(tmp_path, hub):
    assert _cli(tmp_path, hub.endpoint, "download")["code"] == 2
    res = _cli(tmp_path, hub.endpoint, "download", "tiny-test", "no-such-model")
    assert res["code"] == 2 and "no-such-model" in _one_line(res) and "tiny-det" in _one_line(res)
    assert hub.requests == []  # every name is checked before the first request


def test_unreachable_hub_fails_at_once_in_one_line(tmp_path):
    res = _cli(tmp_path, _closed_port(), "download", "--detector")
    assert res["code"] == 2
    line = _one_line(res)
    assert "detector tiny-det" in line and "unreachable" in line and "smplestx download tiny-det" in line
    # One attempt, no back-off (huggingface_hub alone retries with sleeps for ~23 s); the time is a benchmark's job.
    assert not [s for s in res["sleeps"] if s >= 1], res


@pytest.mark.slow  # a process that imports torch
def test_unreachable_hub_during_infer(tmp_path, synthetic_body):
    image = tmp_path / "photo.png"
    _write_png(image)
    res = _cli(tmp_path, _closed_port(), "infer", str(image), "--model", "tiny-test", "--body-models",
               str(synthetic_body), "--output", str(tmp_path / "out"), "-q")
    assert res["code"] == 2
    line = _one_line(res)
    assert line.startswith("smplestx: error: model tiny-test: the Hugging Face hub") and "unreachable" in line
    assert "downloading" not in line
    assert not [s for s in res["sleeps"] if s >= 1], res


@pytest.mark.slow  # a process that imports torch
def test_offline_says_offline_and_asks_nothing(tmp_path, hub, synthetic_body):
    image = tmp_path / "photo.png"
    _write_png(image)
    res = _cli(tmp_path, hub.endpoint, "infer", str(image), "--model", "tiny-test", "--body-models",
               str(synthetic_body), "--output", str(tmp_path / "out"), "-q", offline=True)
    assert res["code"] == 2
    line = _one_line(res)
    assert "offline (HF_HUB_OFFLINE is set)" in line and "not in the Hugging Face cache" in line
    assert "downloading" not in line
    assert hub.requests == []


def _write_png(path: Path) -> None:
    import cv2

    cv2.imwrite(str(path), np.full((32, 24, 3), 127, np.uint8))


@pytest.fixture
def no_download(monkeypatch):
    """Any model or detector fetch fails the test: the setup must be refused before it."""
    from smplestx.models import zoo

    def forbidden(*args, **kwargs):
        raise AssertionError("a download was attempted before the setup was checked")

    monkeypatch.setattr(zoo, "_download", forbidden)
    monkeypatch.delenv("SMPLESTX_BODY_MODELS", raising=False)
    monkeypatch.delenv("SMPLESTX_CONFIG", raising=False)


@pytest.mark.parametrize("case", ["input", "output", "body_models", "boxes"])
def test_setup_is_checked_before_any_download(case, tmp_path, monkeypatch, capsys, synthetic_body, no_download):
    from smplestx.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    image = tmp_path / "photo.png"
    _write_png(image)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    inputs = str(tmp_path / "gone.png") if case == "input" else str(image)
    output = str(blocker / "out") if case == "output" else str(tmp_path / "out")
    body = str(tmp_path / "no_models") if case == "body_models" else str(synthetic_body)
    detector = f"boxes:{tmp_path / 'no_boxes.json'}" if case == "boxes" else "auto"
    code = main(["infer", inputs, "--model", "smplest-x-h", "--body-models", body, "--output", output,
                 "--detector", detector, "-q"])
    err = capsys.readouterr().err
    expected = {"input": (1, "gone.png: no such file or folder"), "output": (2, "output folder is not writable"),
                "body_models": (2, "no SMPLX_*.npz in"), "boxes": (2, "no_boxes.json: boxes file not found")}[case]
    assert code == expected[0] and expected[1] in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_a_file_missing_on_the_hub_is_one_line(tmp_path):
    hub = FakeHub({"owner/tiny/tiny.pth.tar": WEIGHTS}).start()  # no detector files there
    try:
        res = _cli(tmp_path, hub.endpoint, "download", "--detector")
    finally:
        hub.stop()
    assert res["code"] == 2
    line = _one_line(res)
    assert "detector tiny-det: the hub at" in line and "refused owner/det/model.safetensors@main" in line, line
    assert "404" in line
