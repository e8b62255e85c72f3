"""Sharding `smplestx infer` across processes: shares, launchers, resume after a kill, merged summaries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import smplestx
from smplestx.pipeline.run import input_weight
from smplestx.sharding import Shard, ShardError, assign, parse_shard, select, shard_from_env

SRC = str(Path(smplestx.__file__).resolve().parents[1])


def test_parse_shard() -> None:
    assert parse_shard("2/5") == Shard(2, 5, "--shard")
    assert parse_shard(" 0 / 1 ") == Shard(0, 1, "--shard")
    for bad in ("5/5", "1/0", "-1/3", "a/b", "3", "1/2/3"):
        with pytest.raises(ShardError, match="--shard"):
            parse_shard(bad)


def test_launcher_environments() -> None:
    assert shard_from_env({}) == Shard()
    assert shard_from_env({"RANK": "3", "WORLD_SIZE": "4"}) == Shard(3, 4, "torchrun")
    assert shard_from_env({"RANK": "0", "WORLD_SIZE": "1"}) == Shard()  # torchrun with one process
    slurm = {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_MIN": "5"}
    assert shard_from_env(slurm) == Shard(7, 8, "slurm")
    assert shard_from_env({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"}) == Shard(2, 3, "slurm")
    # torchrun wins over an enclosing SLURM array (one process per GPU inside an array task).
    assert shard_from_env({**slurm, "RANK": "1", "WORLD_SIZE": "2"}) == Shard(1, 2, "torchrun")
    with pytest.raises(ShardError, match="RANK"):
        shard_from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ShardError, match="SLURM"):
        shard_from_env({"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "3"})
    with pytest.raises(ShardError, match="not an integer"):
        shard_from_env({"RANK": "x", "WORLD_SIZE": "2"})


@pytest.mark.parametrize("count", [1, 2, 3, 7, 40])
def test_every_input_in_exactly_one_share_and_balanced(count: int) -> None:
    rng = np.random.default_rng(count)
    weights = np.concatenate([np.ones(25), rng.integers(10, 5000, 12)]).tolist()
    paths = [Path(f"in/{i:03d}.mp4") for i in range(len(weights))]
    shares = [select(paths, Shard(k, count), weights) for k in range(count)]
    flat = [p for s in shares for p in s]
    assert sorted(flat) == sorted(paths) and len(flat) == len(set(flat))  # each exactly once
    for s in shares:  # each share keeps the input order
        assert s == [p for p in paths if p in set(s)]
    load = [sum(weights[paths.index(p)] for p in s) for s in shares]
    # LPT: no share exceeds the lightest by more than the heaviest single input.
    assert max(load) - min(load) <= max(weights)
    assert assign(weights, count, [str(p) for p in paths]) == assign(weights, count, [str(p) for p in paths])


def test_balance_by_length_not_count() -> None:
    # One 1000-frame video and ten images over two shares: the video's share gets no image.
    weights = [1000.0] + [1.0] * 10
    owner = assign(weights, 2)
    assert owner.count(owner[0]) == 1


def test_input_weight_reads_video_length(tmp_path: Path) -> None:
    from smplestx.io.video import VideoWriter, write_image

    with VideoWriter(tmp_path / "v.mp4", 10.0, 64, 48) as vw:
        for i in range(20):
            vw.write(np.full((48, 64, 3), i * 10, np.uint8))
    write_image(tmp_path / "i.png", np.zeros((8, 8, 3), np.uint8))
    assert input_weight(tmp_path / "i.png") == 1
    assert input_weight(tmp_path / "v.mp4") == 20
    assert input_weight(tmp_path / "v.mp4", stride=3) == 7
    assert input_weight(tmp_path / "v.mp4", start=0.5, end=1.5) == 10
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    assert input_weight(tmp_path / "bad.mp4") == 1  # still placed; its run reports the error


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, synthetic_body) -> Path:
    """Five small images and two videos (12 and 4 frames) of mannequins."""
    import torch

    from smplestx.body import BodyModel
    from smplestx.synthetic.scene import ScenePerson, render_scene
    from smplestx.io.video import VideoWriter, write_image

    body = BodyModel.from_dir(synthetic_body, dtype=torch.float64)
    folder = tmp_path_factory.mktemp("shard_inputs")
    for i in range(5):
        image, _ = render_scene(body, [ScenePerson((0.1 * i - 0.2, 0.2, 4.0))], 96, 128, focal=300.0, seed=i)
        write_image(folder / f"img_{i}.png", image)
    for name, n in (("walk_long.mp4", 12), ("walk_short.mp4", 4)):
        with VideoWriter(folder / name, 10.0, 96, 128) as vw:
            for i in range(n):
                frame, _ = render_scene(body, [ScenePerson((0.02 * i, 0.2, 4.0))], 96, 128, focal=300.0, seed=i)
                vw.write(frame)
    return folder


def _infer(inputs: Path, out: Path, model: tuple[Path, Path, Path], *extra: str, env: dict | None = None,
           wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    ckpt, config, body = model
    cmd = [sys.executable, "-m", "smplestx", "infer", str(inputs), "--checkpoint", str(ckpt), "--config", str(config),
           "--body-models", str(body), "--detector", "full", "--output", str(out), "--device", "cpu", "--dtype", "fp32", "-q", *extra]
    full_env = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=600)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)


def _numbers(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for f in sorted(folder.glob("*.npz")):
        with np.load(f, allow_pickle=False) as npz:
            out[f.name] = {k: npz[k] for k in npz.files if k != "meta_json"}
    return out


@pytest.mark.slow
def test_three_shards_equal_one_process_and_resume_after_kill(inputs, tiny_ckpt, tiny_config, synthetic_body,
                                                             tmp_path) -> None:
    model = (tiny_ckpt, tiny_config, synthetic_body)
    single = tmp_path / "single"
    res = _infer(inputs, single, model, "--no-render")
    assert res.returncode == 0, res.stderr
    # Three processes as a SLURM array would start them (and one through --shard), writing one folder.
    sharded = tmp_path / "sharded"
    procs = [_infer(inputs, sharded, model, "--no-render", wait=False,
                    env={"SLURM_ARRAY_TASK_ID": str(k), "SLURM_ARRAY_TASK_COUNT": "3"}) for k in range(2)]
    procs.append(_infer(inputs, sharded, model, "--no-render", "--shard", "2/3", wait=False))
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    parts = sorted(sharded.glob("summary.shard-*.json"))
    assert [p.name for p in parts] == [f"summary.shard-000{k}-of-0003.json" for k in range(3)]
    per_shard = [json.loads(p.read_text())["inputs"] for p in parts]
    done = [Path(i["path"]).name for share in per_shard for i in share]
    assert sorted(done) == sorted(p.name for p in inputs.iterdir()) and len(done) == len(set(done))
    # The long video's share holds fewer inputs than the others (balanced by frames, not by count).
    long_share = next(s for s in per_shard if any(i["path"].endswith("walk_long.mp4") for i in s))
    assert len(long_share) < max(len(s) for s in per_shard)
    merged = subprocess.run([sys.executable, "-m", "smplestx", "merge-summaries", str(sharded)], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": SRC})
    assert merged.returncode == 0, merged.stderr
    summary = json.loads((sharded / "summary.json").read_text())
    assert len(summary["inputs"]) == 7 and summary["frames"] == 5 + 12 + 4 and summary["failures"] == 0
    a, b = _numbers(single), _numbers(sharded)
    assert a.keys() == b.keys() and len(a) == 7 + 2  # results of 7 inputs, track files of the 2 videos
    for name in a:
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key], b[name][key], err_msg=f"{name}:{key}")

    # A process killed mid-run; the rerun redoes only what is missing.
    resumed = tmp_path / "resumed"
    proc = _infer(inputs, resumed, model, wait=False)
    deadline = time.monotonic() + 300
    while not list(resumed.glob("*.npz")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    finished = {f.name: f.stat().st_mtime_ns for f in resumed.glob("*.npz") if not f.name.endswith(".tracks.npz")}
    assert finished, "the run was killed before any input finished"
    res = _infer(inputs, resumed, model)
    assert res.returncode == 0, res.stderr
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["skipped"] == len(finished) and len(summary["inputs"]) == 7
    assert {f.name: f.stat().st_mtime_ns for f in resumed.glob("*.npz") if f.name in finished} == finished
    assert len(list(resumed.glob("*.npz"))) == 7 + 2 and len(list(resumed.glob("*_overlay.*"))) == 7
    # Other settings are a different run: nothing is skipped.
    res = _infer(inputs, resumed, model, "--stride", "2")
    assert res.returncode == 0, res.stderr
    assert json.loads((resumed / "summary.json").read_text())["skipped"] == 0


def test_merge_reports_missing_shards(tmp_path: Path) -> None:
    from smplestx.cli import main

    (tmp_path / "summary.shard-0001-of-0003.json").write_text(json.dumps(
        {"shard": {"index": 1, "count": 3}, "inputs": [{"path": "a.png", "kind": "image", "frames": 1}], "seconds": 2.0}))
    assert main(["merge-summaries", str(tmp_path)]) == 1
    assert json.loads((tmp_path / "summary.json").read_text())["frames"] == 1
    assert main(["merge-summaries", str(tmp_path / "nothing")]) == 2
