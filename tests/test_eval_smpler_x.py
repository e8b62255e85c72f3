"""Evaluation with an SMPLer-X checkpoint (the tiny official-format fixture) on the synthetic benchmark and AGORA-test."""

from __future__ import annotations

import json
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from eval_helpers import write_agora_test_annotation
from smplestx.cli import main
from smplestx.data import HumanData, write_humandata
from smplestx.evaluate.benchmarks import get_benchmark
from smplestx.evaluate.runner import CSV_FILE, EvalOptions, EvalRun, read_rows
from smplestx.synthetic.dataset import write_synthetic_dataset

SX = Path(__file__).resolve().parents[1].parent / "shared" / "parity" / "smpler_x_tiny"
NUM_IMAGES = 3


@pytest.fixture(scope="module")
def sx_files() -> tuple[Path, Path]:
    ckpt, cfg = SX / "smpler_x_tiny.pth.tar", SX / "config_smpler_x_tiny.py"
    if not ckpt.is_file():
        pytest.skip(f"SMPLer-X parity fixture not available ({ckpt} missing)")
    return ckpt, cfg


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    # Neutral people only: the oracle test below makes the model's own (neutral) predictions the ground truth.
    out = tmp_path_factory.mktemp("evaldata_sx")
    write_synthetic_dataset(out, NUM_IMAGES, seed=3, split="test", image_size=(320, 240), genders=("neutral",))
    return out


def _eval_args(data_dir: Path, sx_files: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    ckpt, cfg = sx_files
    return ["eval", "--benchmark", "synthetic", "--data-dir", str(data_dir), "--checkpoint", str(ckpt), "--config", str(cfg),
            "--body-models", str(data_dir / "body_models"), "--output", str(out), "-q", "--batch-size", "2", *extra]


def test_cli_eval_with_an_smpler_x_checkpoint(data_dir, sx_files, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(_eval_args(data_dir, sx_files, out)) == 0
    table = capsys.readouterr().out
    assert "MPVPE All" in table and "ours (corrected)" in table and "ours (reference)" in table
    n = len(HumanData.open(get_benchmark("synthetic").annotation_path(data_dir)))
    assert len(read_rows(out / CSV_FILE)) == n
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluated"] == n
    for mode in ("corrected", "reference"):
        # A random tiny network: large errors, but finite and positive in every column of both modes.
        assert all(math.isfinite(v) and v > 0 for v in summary[mode].values()), (mode, summary[mode])


class _Recorder(torch.nn.Module):
    """The SMPLer-X model, recording every prediction in the order the run asks for them."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.body = model.body
        self.params: list[dict[str, np.ndarray]] = []
        self.boxes: list[np.ndarray] = []

    def predict_crops(self, crops: torch.Tensor):
        pred = self.model.predict_crops(crops)
        names = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression", "transl")
        for j in range(crops.shape[0]):
            self.params.append({k: getattr(pred, k)[j].float().numpy() for k in names})
            self.boxes.append(pred.lhand_box[j].numpy())
        return pred


def test_own_predictions_as_ground_truth_score_zero(data_dir, sx_files, tmp_path):
    """Crops, network, body model and metrics line up: the SMPLer-X predictions written as GT give 0 mm."""
    from smplestx.models.loading import load_model
    from smplestx.models.smpler_x import SMPLerX

    ckpt, cfg = sx_files
    model = load_model(ckpt, config=cfg, body_models=data_dir / "body_models")
    assert isinstance(model, SMPLerX)
    bench = get_benchmark("synthetic")
    rec = _Recorder(model)
    first = EvalRun(bench, data_dir, rec, data_dir / "body_models", tmp_path / "first", EvalOptions(batch_size=2)).run()
    assert first.evaluated == len(rec.params) and all(b.shape == (4,) for b in rec.boxes)
    assert first.corrected["mpvpe_all"] > 10  # the random network is far from the mannequins

    # Same images, annotation rewritten with the predicted parameters (same order: no sample skipped).
    hd = HumanData.open(bench.annotation_path(data_dir))
    samples = EvalRun(bench, data_dir, rec, data_dir / "body_models", tmp_path / "x").samples()[0].samples
    assert [s.index for s in samples] == list(range(len(hd)))
    smplx = {k: np.stack([p[k] for p in rec.params]) for k in rec.params[0]}
    oracle = tmp_path / "oracle"
    write_humandata(oracle / "annotations" / "synthetic_test.npz",
                    {"image_path": hd.image_path, "bbox_xywh": np.asarray(hd.bbox_xywh), "smplx": smplx,
                     "meta": {k: hd.meta[k] for k in ("gender", "height", "width")}})
    (oracle / "images").symlink_to(data_dir / "images")
    rec.params.clear()
    report = EvalRun(bench, oracle, rec, data_dir / "body_models", tmp_path / "second", EvalOptions(batch_size=2)).run()
    assert report.evaluated == first.evaluated
    for mode in (report.corrected, report.reference):
        for name in ("mpvpe_all", "pa_mpvpe_all", "mpvpe_hand", "pa_mpvpe_hand", "mpvpe_face", "pa_mpvpe_face",
                     "mpjpe_body", "pa_mpjpe_body", "pa_mpjpe_hand"):
            assert mode[name] == pytest.approx(0.0, abs=2e-3), name


def test_agora_test_submission_with_smpler_x(data_dir, sx_files, tmp_path, capsys):
    ckpt, cfg = sx_files
    annot = write_agora_test_annotation(data_dir, tmp_path / "agora_test.npz")
    hd = HumanData.open(annot)
    out = tmp_path / "sub"
    args = ["eval", "--benchmark", "AGORA-test", "--annotation", str(annot), "--images", str(data_dir / "images"),
            "--checkpoint", str(ckpt), "--config", str(cfg), "--body-models", str(data_dir / "body_models"),
            "--output", str(out), "-q"]
    assert main(args) == 0
    assert "predictions for the AGORA-test server" in capsys.readouterr().out
    names = sorted(zipfile.ZipFile(out / "predictions.zip").namelist())
    assert len(names) == len(hd)
    for name in names:
        with open(out / name, "rb") as fh:
            pred = pickle.load(fh)
        # All 144 SMPL-X joints in image pixels, as the reference's AGORA test mode; parameters per person.
        assert pred["joints"].shape == (144, 2) and np.isfinite(pred["joints"]).all()
        p = pred["params"]
        assert p["body_pose"].shape == (1, 63) and p["betas"].shape == (1, 10) and p["global_orient"].shape == (1, 3)
        assert p["left_hand_pose"].shape == (1, 45) and p["right_hand_pose"].shape == (1, 45) and pred["pose2rot"] is True
