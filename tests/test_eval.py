"""End-to-end evaluation on a synthetic HumanData test set rendered from the synthetic body model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel
from eval_helpers import write_agora_test_annotation
from smplestx.cli import main
from smplestx.data import HumanData, HumanDataError, write_humandata
from smplestx.synthetic.dataset import write_synthetic_dataset
from smplestx.evaluate.benchmarks import BenchmarkDataError, get_benchmark
from smplestx.evaluate.runner import CSV_FILE, EvalOptions, EvalRun, read_rows
from smplestx.evaluate.samples import GroundTruthBuilder, build_test_samples

NUM_IMAGES = 4


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("evaldata")
    write_synthetic_dataset(out, NUM_IMAGES, seed=3, split="test", image_size=(320, 240),
                            genders=("neutral", "male", "female"))
    return out


@pytest.fixture(scope="module")
def body_dir(data_dir) -> Path:
    return data_dir / "body_models"


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("synthetic")


@pytest.fixture(scope="module")
def samples(bench, data_dir, body_dir):
    gt = GroundTruthBuilder(body_dir, bench.rules)
    found = build_test_samples(bench.open(data_dir), bench.image_root(data_dir), bench.rules)
    return found, gt


def test_samples_rebuild_the_stored_ground_truth(samples, bench, data_dir):
    found, gt = samples
    hd = bench.open(data_dir)
    assert len(found.samples) == len(hd) >= NUM_IMAGES
    assert {s.gender for s in found.samples} <= {"neutral", "male", "female"}
    assert all(s.box is not None and s.image_path.is_file() for s in found.samples)
    kps3d = hd.keypoints("keypoints3d_smplx")
    for s in found.samples:
        out = gt.layer(s.gender)(**{k: torch.from_numpy(v[None].copy()) for k, v in s.params.items()})
        # The GT mesh's joints are the stored 3D keypoints (camera frame, metres).
        np.testing.assert_allclose(out.joints[0].numpy(), kps3d[s.index, :, :3], atol=2e-5)
    meshes = gt.meshes(found.samples)
    assert meshes.shape == (len(found.samples), 10475, 3) and meshes.dtype == np.float32


class _Oracle(torch.nn.Module):
    """A 'model' that returns the GT meshes, transformed, in the order the run asks for them."""

    def __init__(self, meshes: np.ndarray, transform) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.queue = [transform(m) for m in meshes]

    def predict_crops(self, crops: torch.Tensor):
        assert crops.shape[1:] == (3, 512, 384) and 0 <= float(crops.min()) and float(crops.max()) <= 1
        out = np.stack([self.queue.pop(0) for _ in range(crops.shape[0])])
        return type("P", (), {"vertices": torch.from_numpy(out)})()


def _run_oracle(samples, bench, data_dir, body_dir, tmp_path, transform, batch_size=3):
    found, gt = samples
    meshes = gt.meshes(found.samples)
    run = EvalRun(bench, data_dir, _Oracle(meshes, transform), body_dir, tmp_path / "out",
                  EvalOptions(batch_size=batch_size))
    return run.run(), meshes


def _pelvis(body_dir, mesh):
    J = BodyModel.from_dir(body_dir).J_regressor.double().numpy()
    return J[0] @ mesh.astype(np.float64)


def test_prediction_equal_to_ground_truth_gives_zero(samples, bench, data_dir, body_dir, tmp_path):
    report, _ = _run_oracle(samples, bench, data_dir, body_dir, tmp_path, lambda m: m.copy())
    for mode in (report.corrected, report.reference):
        for name in ("mpvpe_all", "pa_mpvpe_all", "mpvpe_hand", "pa_mpvpe_hand", "mpvpe_face", "pa_mpvpe_face",
                     "mpjpe_body", "pa_mpjpe_body", "pa_mpjpe_hand"):
            assert mode[name] == pytest.approx(0.0, abs=2e-3), name
    rows = read_rows(tmp_path / "out" / CSV_FILE)
    assert len(rows) == report.evaluated == len(samples[0].samples)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["evaluated"] == report.evaluated and summary["units"] == "mm"


@pytest.mark.slow
def test_known_translation_rotation_and_scale(samples, bench, data_dir, body_dir, tmp_path):
    shift = np.array([0.3, -0.2, 1.5], np.float32)
    report, _ = _run_oracle(samples, bench, data_dir, body_dir, tmp_path / "t", lambda m: m + shift)
    assert report.corrected["mpvpe_all"] == pytest.approx(0.0, abs=2e-3)  # root-aligned
    assert report.corrected["pa_mpvpe_all"] == pytest.approx(0.0, abs=2e-3)

    theta = np.deg2rad(10.0)
    R = np.array([[np.cos(theta), 0, np.sin(theta)], [0, 1, 0], [-np.sin(theta), 0, np.cos(theta)]])

    def rotate(m):
        p = _pelvis(body_dir, m)
        return ((m - p) @ R.T + p).astype(np.float32)

    report, meshes = _run_oracle(samples, bench, data_dir, body_dir, tmp_path / "r", rotate)
    expected = np.mean([np.linalg.norm((m - _pelvis(body_dir, m)) @ (R - np.eye(3)).T, axis=1).mean() * 1000
                        for m in meshes.astype(np.float64)])
    assert report.corrected["mpvpe_all"] == pytest.approx(expected, rel=1e-4)
    assert report.corrected["pa_mpvpe_all"] == pytest.approx(0.0, abs=5e-3)

    s = 1.1
    report, meshes = _run_oracle(samples, bench, data_dir, body_dir, tmp_path / "s",
                                 lambda m: ((m - _pelvis(body_dir, m)) * s + _pelvis(body_dir, m)).astype(np.float32))
    expected = np.mean([np.linalg.norm(m - _pelvis(body_dir, m), axis=1).mean() * 1000 * (s - 1)
                        for m in meshes.astype(np.float64)])
    assert report.corrected["mpvpe_all"] == pytest.approx(expected, rel=1e-4)
    assert report.reference["mpvpe_all"] == pytest.approx(expected, rel=1e-4)
    assert report.corrected["pa_mpvpe_all"] == pytest.approx(0.0, abs=5e-3)  # Procrustes removes the scale


def _eval_args(data_dir, body_dir, tiny_ckpt, tiny_config, out, *extra):
    return ["eval", "--benchmark", "synthetic", "--data-dir", str(data_dir), "--checkpoint", str(tiny_ckpt),
            "--config", str(tiny_config), "--body-models", str(body_dir), "--output", str(out), "-q",
            "--batch-size", "2", *extra]


@pytest.mark.slow
def test_cli_eval_resumes_and_matches_a_straight_run(data_dir, body_dir, tiny_ckpt, tiny_config, tmp_path, capsys):
    out = tmp_path / "resumed"
    assert main(_eval_args(data_dir, body_dir, tiny_ckpt, tiny_config, out, "--limit", "2")) == 0
    assert len(read_rows(out / CSV_FILE)) == 2
    # A kill mid-write leaves a cut line: the rerun drops it and redoes that sample.
    with open(out / CSV_FILE, "a") as fh:
        fh.write("99,cut")
    assert main(_eval_args(data_dir, body_dir, tiny_ckpt, tiny_config, out)) == 0
    table = capsys.readouterr().out
    assert "MPVPE All" in table and "ours (corrected)" in table and "ours (reference)" in table
    resumed = read_rows(out / CSV_FILE)
    assert len({r["index"] for r in resumed}) == len(resumed)
    straight = tmp_path / "straight"
    assert main(_eval_args(data_dir, body_dir, tiny_ckpt, tiny_config, straight)) == 0
    rows = read_rows(straight / CSV_FILE)
    assert [r["index"] for r in rows] == [r["index"] for r in resumed]
    for a, b in zip(rows, resumed):
        for k in a:
            if k.startswith(("mpvpe", "pa_", "mpjpe", "ref_")) and a[k] not in ("", "nan"):
                assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-4, abs=1e-3), k
    s1 = json.loads((straight / "summary.json").read_text())
    assert all(math.isfinite(v) and v > 0 for k, v in s1["corrected"].items())


def test_output_of_another_run_is_refused(data_dir, body_dir, tiny_ckpt, tiny_config, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"benchmark": "EHF"}))
    assert main(_eval_args(data_dir, body_dir, tiny_ckpt, tiny_config, out)) == 2
    err = capsys.readouterr().err
    assert "another run" in err and "benchmark" in err and len(err.strip().splitlines()) == 1


def test_replaced_checkpoint_is_not_mixed_into_a_resume(data_dir, body_dir, tiny_ckpt, tiny_config, tmp_path, capsys):
    """Same path, other weights: refused in one line naming what changed; --restart discards the old rows."""
    import shutil

    ckpt = tmp_path / "model.pth.tar"
    shutil.copy(tiny_ckpt, ckpt)
    out = tmp_path / "o"
    assert main(_eval_args(data_dir, body_dir, ckpt, tiny_config, out, "--limit", "2")) == 0
    old_rows = read_rows(out / CSV_FILE)
    state = torch.load(ckpt, weights_only=True)
    first = next(k for k in state["network"] if k.endswith("weight"))
    state["network"][first] = state["network"][first] + 0.5
    torch.save(state, ckpt)
    capsys.readouterr()
    assert main(_eval_args(data_dir, body_dir, ckpt, tiny_config, out, "--limit", "3")) == 2
    err = capsys.readouterr().err.strip()
    assert "weights" in err and "--restart" in err and len(err.splitlines()) == 1
    assert read_rows(out / CSV_FILE) == old_rows  # nothing touched
    assert main(_eval_args(data_dir, body_dir, ckpt, tiny_config, out, "--limit", "2", "--restart")) == 0
    new_rows = read_rows(out / CSV_FILE)
    assert len(new_rows) == 2 and new_rows != old_rows


@pytest.mark.slow
def test_sharded_eval_merges_to_the_single_process_numbers(data_dir, body_dir, tiny_ckpt, tiny_config, tmp_path,
                                                           capsys):
    single = tmp_path / "single"
    assert main(_eval_args(data_dir, body_dir, tiny_ckpt, tiny_config, single, "--limit", "5")) == 0
    sharded = tmp_path / "sharded"
    for k in (1, 0):  # any order; shard 2 comes later, as after a preemption
        assert main(_eval_args(data_dir, body_dir, tiny_ckpt, tiny_config, sharded, "--limit", "5", "--shard", f"{k}/3")) == 0
    assert main(["merge-summaries", str(sharded)]) == 1  # shard 2 is missing, said so
    assert "missing shards [2]" in capsys.readouterr().err
    assert main(_eval_args(data_dir, body_dir, tiny_ckpt, tiny_config, sharded, "--limit", "5", "--shard", "2/3")) == 0
    assert main(["merge-summaries", str(sharded)]) == 0
    parts = [read_rows(sharded / f"per_sample.shard-000{k}-of-0003.csv") for k in range(3)]
    assert sorted(int(r["index"]) for p in parts for r in p) == sorted(int(r["index"]) for r in read_rows(single / CSV_FILE))
    assert read_rows(sharded / CSV_FILE) == read_rows(single / CSV_FILE)
    a = json.loads((single / "summary.json").read_text())
    b = json.loads((sharded / "summary.json").read_text())
    assert a["corrected"] == b["corrected"] and a["reference"] == b["reference"] and a["evaluated"] == b["evaluated"]


def test_missing_benchmark_files_name_what_was_looked_for(tmp_path, capsys):
    bench = get_benchmark("synthetic")
    with pytest.raises(BenchmarkDataError, match="synthetic_test.npz.*synthetic-data"):
        bench.open(tmp_path)
    assert main(["eval", "--benchmark", "synthetic", "--data-dir", str(tmp_path), "--checkpoint", "x.pth.tar",
                 "--body-models", str(tmp_path)]) == 2
    assert "looked for" in capsys.readouterr().err
    assert main(["eval", "--benchmark", "nope", "--data-dir", str(tmp_path), "--checkpoint", "x",
                 "--body-models", "y"]) == 2
    assert "known:" in capsys.readouterr().err


def test_missing_image_is_one_line_and_keeps_finished_rows(data_dir, body_dir, tiny_ckpt, tiny_config, tmp_path,
                                                           capsys):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    hd = HumanData.open(get_benchmark("synthetic").annotation_path(copy))
    last = copy / "images" / str(hd.image_path[-1])
    last.unlink()
    out = tmp_path / "out"
    assert main(_eval_args(copy, copy / "body_models", tiny_ckpt, tiny_config, out)) == 2
    err = capsys.readouterr().err.strip()
    assert str(last) in err and len(err.splitlines()) == 1
    assert 0 < len(read_rows(out / CSV_FILE)) < len(hd)


def test_test_set_without_smplx_is_a_clear_error(tmp_path, body_dir):
    bench = get_benchmark("synthetic")
    (tmp_path / "images").mkdir()
    write_humandata(tmp_path / "annotations" / "synthetic_test.npz",
                    {"image_path": np.array(["a.jpg"]), "bbox_xywh": np.zeros((1, 5), np.float32)})
    with pytest.raises(HumanDataError, match="'smplx' is missing"):
        build_test_samples(bench.open(tmp_path), bench.image_root(tmp_path), bench.rules)


def test_agora_style_submission_without_ground_truth(data_dir, body_dir, tiny_ckpt, tiny_config, tmp_path, capsys):
    import pickle
    import zipfile

    annot = write_agora_test_annotation(data_dir, tmp_path / "agora_test.npz")
    hd = HumanData.open(annot)
    out = tmp_path / "sub"
    args = ["eval", "--benchmark", "AGORA-test", "--annotation", str(annot), "--images", str(data_dir / "images"),
            "--checkpoint", str(tiny_ckpt), "--config", str(tiny_config), "--body-models", str(body_dir),
            "--output", str(out), "-q"]
    assert main(args) == 0
    assert "predictions for the AGORA-test server" in capsys.readouterr().out
    names = sorted(zipfile.ZipFile(out / "predictions.zip").namelist())
    assert len(names) == len(hd)
    # Two people in one image get personId 0 and 1.
    stems = [Path(p).stem for p in hd.image_path]
    expected = sorted(f"predictions/{s}_personId_{stems[:i].count(s)}.pkl" for i, s in enumerate(stems))
    assert names == expected
    with open(out / names[0], "rb") as fh:
        pred = pickle.load(fh)
    assert pred["joints"].shape == (144, 2) and pred["params"]["body_pose"].shape == (1, 63)
    assert pred["params"]["betas"].shape == (1, 10) and pred["pose2rot"] is True


@pytest.mark.slow
def test_3dpw_protocol_scores_smpl_ground_truth(data_dir, synthetic_smpl_models, tmp_path):
    """3DPW-style set: SMPL GT with meta genders; a prediction that maps exactly onto the GT scores ~0."""
    root = synthetic_smpl_models
    hd = HumanData.open(get_benchmark("synthetic").annotation_path(data_dir))
    sx = hd.smplx
    n = len(hd)
    body = np.concatenate([np.asarray(sx["body_pose"]).reshape(n, 63), np.zeros((n, 6), np.float32)], 1)
    genders = np.array(["male", "female"] * n)[:n]
    annot = tmp_path / "annot" / "pw3d_test.npz"
    write_humandata(annot, {"image_path": hd.image_path, "bbox_xywh": np.asarray(hd.bbox_xywh),
                            "smpl": {"global_orient": sx["global_orient"], "body_pose": body, "betas": sx["betas"],
                                     "transl": sx["transl"]},
                            "meta": {"gender": list(genders), "height": hd.meta["height"],
                                     "width": hd.meta["width"]}})
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "PW3D").symlink_to(data_dir / "images")
    bench = get_benchmark("3DPW")
    found = build_test_samples(bench.open(tmp_path), bench.image_root(tmp_path), bench.rules)
    assert [s.gender for s in found.samples] == list(genders)
    # The SMPL-X mesh of the same body pose with flat hands maps onto the SMPL mesh (synthetic SMPL is cut from it).
    preds = []
    for s in found.samples:
        layer = BodyModel.from_dir(root, s.gender, flat_hand_mean=True)
        p = {k: torch.from_numpy(np.asarray(v)[None].copy()) for k, v in s.params.items()}
        p["body_pose"] = p["body_pose"][:, :21]
        preds.append(layer(**p).vertices[0].numpy())
    run = EvalRun(bench, tmp_path, _Oracle(np.stack(preds), lambda m: m), root, tmp_path / "out",
                  EvalOptions(batch_size=2))
    report = run.run()
    assert report.evaluated == n
    for name in ("mpvpe_all", "pa_mpvpe_all", "mpjpe_body", "pa_mpjpe_body"):
        assert report.corrected[name] == pytest.approx(0.0, abs=1e-2), name
        assert math.isfinite(report.reference[name])
    header = (tmp_path / "out" / CSV_FILE).read_text().splitlines()[0]
    assert header.endswith("ref_pa_mpjpe_body") and "mpvpe_hand" not in header


def test_several_scoring_threads_keep_order_and_values(samples, bench, data_dir, body_dir, tmp_path, monkeypatch):
    one, _ = _run_oracle(samples, bench, data_dir, body_dir, tmp_path / "one", lambda m: m * 1.01, batch_size=1)
    monkeypatch.setattr("smplestx.evaluate.runner.os.cpu_count", lambda: 8)  # 4 scoring threads
    many, _ = _run_oracle(samples, bench, data_dir, body_dir, tmp_path / "many", lambda m: m * 1.01, batch_size=1)
    assert read_rows(tmp_path / "one" / "out" / CSV_FILE) == read_rows(tmp_path / "many" / "out" / CSV_FILE)
    assert one.corrected == many.corrected


def test_python_api_resume_refuses_another_models_rows(samples, bench, data_dir, body_dir, tmp_path):
    """EvalRun builds its run identity itself (weights by content): the Python API resumes as safely as the CLI."""
    from smplestx.evaluate.runner import EvalSetupError

    found, gt = samples
    meshes = gt.meshes(found.samples)
    out = tmp_path / "out"
    EvalRun(bench, data_dir, _Oracle(meshes, lambda m: m), body_dir, out, EvalOptions(batch_size=3, limit=2)).run()
    rows = read_rows(out / CSV_FILE)
    other = _Oracle(meshes, lambda m: m)
    with torch.no_grad():
        other.anchor.fill_(1.0)  # other weights, same code: a resume must not mix their rows with these
    with pytest.raises(EvalSetupError, match="weights"):
        EvalRun(bench, data_dir, other, body_dir, out, EvalOptions(batch_size=3, limit=3)).run()
    assert read_rows(out / CSV_FILE) == rows
    # The same weights resume: the two rows are kept, the third is added.
    EvalRun(bench, data_dir, _Oracle(meshes, lambda m: m), body_dir, out, EvalOptions(batch_size=3, limit=3)).run()
    assert read_rows(out / CSV_FILE)[:2] == rows and len(read_rows(out / CSV_FILE)) == 3
