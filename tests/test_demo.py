"""`smplestx demo` end to end: offline, nothing from outside the repository, every output produced."""

from __future__ import annotations

import json
import socket

import numpy as np
from safetensors import safe_open

from smplestx.cli import main
from smplestx.config import ModelConfig
from smplestx.demo import TINY_CONFIG
from smplestx.io.results import load_results


def test_demo_runs_offline(tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("the demo must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    # Nothing configured: the demo must not depend on a user's body models or caches.
    for key in ("SMPLESTX_BODY_MODELS", "SMPLESTX_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    out = tmp_path / "demo"
    assert main(["demo", str(out), "--frames", "3", "--people", "2"]) == 0
    printed = capsys.readouterr()
    assert "RANDOM-WEIGHT" in printed.err and "meaningless" in printed.err
    assert f"smplestx view {out / 'results' / 'demo.npz'}" in printed.out

    res = load_results(out / "results" / "demo.npz")
    assert len(res.frames) == 3
    assert [len(f.people) for f in res.frames] == [2, 2, 2]
    person = res.frames[0].people[0]
    assert person.vertices is not None and person.vertices.shape == (10475, 3)
    assert np.isfinite(person.vertices).all()
    assert (out / "results" / "demo_overlay.mp4").stat().st_size > 1000
    summary = json.loads((out / "results" / "summary.json").read_text())
    assert summary["failures"] == 0 and summary["frames"] == 3
    with safe_open(str(out / "tiny_random.safetensors"), "pt") as f:
        meta = f.metadata()
    assert ModelConfig.from_dict(json.loads(meta["smplestx_config"])) == TINY_CONFIG
    assert "random" in meta["source"]
