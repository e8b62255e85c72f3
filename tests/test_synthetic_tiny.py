"""The packaged `synthetic-tiny` model: no download, its body model only, its record, and it sees our people."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from smplestx.models import zoo
from smplestx.models.checkpoint import BODY_METADATA_KEY, CheckpointError, read_metadata
from smplestx.models.loading import load_model

SHIPPED = zoo.PACKAGE_ROOT / "models_data" / "synthetic_tiny.safetensors"
#: On the 7 people of this test: the shipped weights 138 mm and 79 %, the previous (stage-1, one-colour) weights
#: 194 mm and 58 % (measured); random weights land at ~465 mm and 0.3 % on the full held-out set, where the shipped
#: weights reach 131 mm and 75 % (docs/benchmarks.md, "synthetic-tiny"). The bounds leave ~27 mm and ~10 points
#: for a slightly different machine, and fail every earlier file.
MPJPE_BOUND_MM, PCK_BOUND_PCT = 165.0, 68.0


@pytest.fixture(scope="module")
def tiny(synthetic_body: Path):
    return load_model("synthetic-tiny", body_models=synthetic_body)


@pytest.fixture(scope="module")
def other_body(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from smplestx.synthetic.smplx_model import write_synthetic_body

    root = tmp_path_factory.mktemp("body_seed1")
    write_synthetic_body(root, seed=1)
    return root


def test_shipped_in_the_package_small_and_recorded() -> None:
    assert SHIPPED.is_file() and SHIPPED.stat().st_size <= 10 * 2**20
    r = zoo.resolve_model("synthetic-tiny")
    assert r.checkpoint == SHIPPED and r.entry is not None and r.entry.packaged
    meta = read_metadata(SHIPPED)
    assert meta["dtype"] == "fp16" and meta["licence"].startswith("Apache-2.0") and "not real photos" in meta["licence"]
    body = json.loads(meta[BODY_METADATA_KEY])
    assert body["seed"] == 0 and "synthetic-body" in body["made_by"] and len(body["fingerprint"]) == 32
    assert "[model]" in meta["recipe"] and int(meta["seed"]) >= 0 and int(meta["steps"]) > 0
    scores = json.loads(meta["heldout"])
    assert {"mpjpe_mm", "pa_mpjpe_mm", "pck2d_pct", "depth_ok_pct"} <= set(scores)


def test_loads_offline_with_its_body_model(tiny, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("synthetic-tiny must load without the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert tiny.config.input_img_shape == (128, 96)


def test_another_body_model_is_refused(other_body: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(CheckpointError, match=r"synthetic-body DIR --seed 0"):
        load_model("synthetic-tiny", body_models=other_body)
    from smplestx.cli import main

    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.full((64, 48, 3), 128, np.uint8))
    assert main(["infer", str(image), "--model", "synthetic-tiny", "--body-models", str(other_body),
                 "--detector", "full", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "trained with the body model" in err


def test_sees_held_out_synthetic_people(tiny, synthetic_body: Path, tmp_path: Path) -> None:
    from smplestx.synthetic.dataset import write_synthetic_dataset
    from smplestx.evaluate.heldout import evaluate_heldout

    # Seeds the training set never used; the training set's settings.
    annot = write_synthetic_dataset(tmp_path, 6, seed=4242, split="test", body_models=synthetic_body,
                                    image_size=(256, 192), people_per_image=(1, 2), truncation=0.2, occlusion=0.3)
    s = evaluate_heldout(tiny, annot, tmp_path / "images")
    assert s.mpjpe_mm < MPJPE_BOUND_MM and s.pck2d_pct > PCK_BOUND_PCT
