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
    from smplestx.pipeline.video_writer import write_image

    d = tmp_path / "d"
    d.mkdir()
    write_image(d / "a.png", _picture(0))
    write_image(d / "a_overlay.png", _picture(1))  # the user's file, not ours
    before = _digest(d)
    args = ["infer", str(d), "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config), "--body-models",
            str(parity_body), "--detector", "full", "--output", str(d), "-q"]
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
