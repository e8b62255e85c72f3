"""Trainer: config files and overrides, loss decrease, exact resume, 2-process DDP, snapshots, encoder init, freezing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.models.config import ConfigError, read_official_config
from smplestx.train.config import TrainConfig, load_train_config
from smplestx.train.distributed import ShardedBatchSampler
from train_helpers import make_config, make_dataset, make_synth, run

REPO = Path(__file__).resolve().parents[1]
#: The architecture of the parity fixtures' tiny model (encoder 64 x 2 blocks, 4 heads; decoder out 32).
TINY = ['model.size="S"', "model.embed_dim=64", "model.depth=2", "model.num_heads=4", "model.dim_out=32"]


# ---------------------------------------------------------------------------------------------------------------
# Fixtures: a tiny synthetic HumanData set (one person per image) and its body model.


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Six rendered mannequins as a HumanData training set."""
    return make_synth(tmp_path_factory.mktemp("synthetic"))


def _config(synth: dict[str, Path], out: Path, *extra: str) -> TrainConfig:
    return make_config(synth, out, TINY, *extra)


# ---------------------------------------------------------------------------------------------------------------
# Config.


def test_defaults_are_the_reference_config(tiny_config: Path) -> None:
    ref = read_official_config(tiny_config)  # the H config's data / train sections, verbatim
    cfg = TrainConfig()
    t, d = ref["train"], ref["data"]
    assert (cfg.train.end_epoch, cfg.train.batch_size, cfg.train.num_workers) == (t["end_epoch"], t["train_batch_size"], t["num_thread"])
    assert (cfg.train.lr, cfg.train.min_lr, cfg.train.save_every) == (t["lr"], t["min_lr"], t["save_epoch"])
    assert (cfg.train.log_every, cfg.train.remove_old_snapshots) == (t["print_iters"], t["remove_checkpoint"])
    for key, value in t.items():
        if key.endswith("_weight"):
            assert getattr(cfg.train.loss_weights, key) == value, key
    assert cfg.data.datasets == d["trainset_humandata"] and cfg.data.strategy == d["data_strategy"]
    assert (cfg.data.total_data_len, cfg.data.bbox_ratio, cfg.data.no_aug) == (d["total_data_len"], d["bbox_ratio"], d["no_aug"])
    intervals = {k.removesuffix("_train_sample_interval"): v for k, v in d.items() if k.endswith("_train_sample_interval")}
    from smplestx.train.registry import get_spec

    # Sample intervals: the registry's defaults are the reference's, and a config without overrides keeps them.
    assert {k: get_spec(k).sample_interval for k in intervals} == intervals
    assert all(cfg.data.interval(k) is None for k in intervals)
    m = ref["model"]
    assert (cfg.model.camera_3d_size, cfg.model.body_3d_size, cfg.model.hand_3d_size) == (m["camera_3d_size"], m["body_3d_size"], m["hand_3d_size"])
    assert cfg.model_config().encoder.drop_path_rate == 0.55  # H, as configs/config_smplest_x_h.py


def test_config_file_overrides_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[train]\nlr = 3e-5\n[data]\ndatasets = ["BEDLAM", "synthetic"]\nsample_interval = {BEDLAM = 2}\n')
    cfg = load_train_config(path, ["train.lr=2e-5", "train.loss_weights.smplx_pose_weight=4", 'model.size="b"',
                                   "data.total_data_len=\"auto\"", "model.encoder_pretrained=none"])
    assert cfg.train.lr == 2e-5 and cfg.train.loss_weights.smplx_pose_weight == 4.0
    assert cfg.data.interval("BEDLAM") == 2 and cfg.data.interval("UBody") is None
    assert cfg.model_config().encoder.embed_dim == 768 and cfg.data.total_data_len == "auto"
    # The dumped config (written into every run folder) reads back to the same object.
    again = tmp_path / "again.toml"
    again.write_text(cfg.to_toml())
    assert load_train_config(again) == cfg


@pytest.mark.parametrize(
    ("text", "override", "message"),
    [
        ("[train]\nlrr = 1\n", None, "unknown key 'train.lrr'"),
        ("[trian]\n", None, "unknown key 'trian'"),
        ("[train]\nlr = \"fast\"\n", None, "train.lr: expected a number"),
        ("[train]\nbatch_size = 2.5\n", None, "train.batch_size: expected an integer"),
        ("[train]\namp = \"fp8\"\n", None, "train.amp: 'fp8' is not one of none, bf16, fp16"),
        ("[data]\nstrategy = \"weighted\"\n", None, "data.weights: strategy 'weighted' needs a weight for SynHand"),
        ("[model]\nembed_dim = 100\n", None, "not divisible by num_heads"),
        ("[model]\ndecoder_depth = 0\n", None, "decoder depth = 0 must be between 1"),
        ("[data]\nrot_factor = 120\n", None, "data.rot_factor: 120.0 must be between 0 and 90"),
        ("[train\n", None, "not valid TOML"),
        ("", "train.nope=1", "unknown key 'train.nope'"),
        ("", "lr", "expected SECTION.KEY=VALUE"),
    ],
)
def test_config_errors_are_one_line_and_name_file_and_key(tmp_path: Path, text: str, override: str | None, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_train_config(path, [override] if override else [])
    assert message in str(err.value) and str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_example_configs_load() -> None:
    files = sorted((REPO / "configs" / "train").glob("*.toml"))
    assert len(files) >= 6
    sizes = set()
    for f in files:
        cfg = load_train_config(f)
        sizes.add(cfg.model_config().encoder.embed_dim)
    assert {384, 768, 1024, 1280} <= sizes


def test_small_input_and_decoder_follow_the_config() -> None:
    from smplestx.nn.network import SMPLestXNet

    cfg = load_train_config(REPO / "configs" / "train" / "synthetic_tiny.toml").model_config()
    net = SMPLestXNet(cfg)
    layers = net.decoder.transformer.transformer.layers
    assert len(layers) == cfg.decoder.depth == 2 and layers[0][0].fn.heads == cfg.decoder.heads == 4
    assert net.encoder.pos_embed.shape[1] == 8 * 6 + 1  # the position table of the 128 x 96 input's patch grid
    with torch.no_grad():
        out = net(torch.rand(1, 3, 128, 96))
    assert out.img_feat.shape[-2:] == (8, 6) and torch.isfinite(out.transl).all()


def test_cli_train_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlrr = 1\n")
    for argv in (["train", str(tmp_path / "missing.toml")], ["train", str(bad)]):
        proc = subprocess.run([sys.executable, "-m", "smplestx", *argv], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert str(tmp_path) in proc.stderr


# ---------------------------------------------------------------------------------------------------------------
# Sampler and schedule.


def test_sharded_sampler_is_disjoint_resumable_and_reshuffled() -> None:
    samplers = [ShardedBatchSampler(12, 2, rank=r, world_size=3, seed=1) for r in range(3)]
    seen = [i for s in samplers for b in s for i in b]
    assert sorted(seen) == list(range(12)) and all(len(s) == 2 for s in samplers)
    s = samplers[1]
    full = list(s)
    s.set_position(1)
    assert list(s) == full[1:]
    s.set_position(0)
    s.set_epoch(1)
    assert list(s) != full
    # Not divisible: padded by wrapping around (as DistributedSampler), remainder batches dropped.
    odd = [ShardedBatchSampler(7, 2, rank=r, world_size=2, seed=0) for r in range(2)]
    assert [len(o) for o in odd] == [2, 2] and set(i for o in odd for b in o for i in b) <= set(range(7))
    with pytest.raises(ValueError, match="fewer than one batch"):
        ShardedBatchSampler(3, 4)


# ---------------------------------------------------------------------------------------------------------------
# Training.


@pytest.mark.slow
def test_loss_falls(synth: dict[str, Path], tmp_path: Path) -> None:
    cfg = _config(synth, tmp_path / "run", "train.lr=1e-3", "train.min_lr=0.0", "train.end_epoch=100",
                  "train.max_steps=20", "train.log_every=5", "model.drop_path_rate=0.0", "data.no_aug=true")
    result, records = run(cfg, make_dataset(synth, augment=False))
    losses = [r.total for r in records]
    first, last = float(np.mean(losses[:5])), float(np.mean(losses[-5:]))
    print(f"loss over 20 steps (mean of first 5 -> last 5): {first:.2f} -> {last:.2f} ({last / first:.0%})")
    assert len(losses) == 20 and result.stopped_early
    assert last < 0.7 * first
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["iteration"] for x in lines] == [5, 10, 15, 20]
    assert {"lr", "total", "losses", "samples_per_s", "data_time", "step_time"} <= set(lines[0])
    assert set(lines[0]["losses"]) == set(records[0].losses) and math.isclose(lines[-1]["total"], losses[-1], rel_tol=1e-6)


class _Killed(Exception):
    pass


@pytest.mark.slow
def test_resume_after_kill_reproduces_the_run_exactly(synth: dict[str, Path], tmp_path: Path) -> None:
    # Augmentation and drop path on: the resumed run must restore the data position and every RNG stream.
    extra = ("train.end_epoch=2", "train.save_every_steps=2", "model.drop_path_rate=0.3", "train.lr=5e-4")
    full, rec_full = run(_config(synth, tmp_path / "full", *extra), make_dataset(synth))
    assert full.iteration == 6 and [r.iteration for r in rec_full] == list(range(1, 7))
    # The per-iteration cosine of the reference: T_max = 2 epochs x 3 iterations, eta_min = min_lr.
    np.testing.assert_allclose([r.lr for r in rec_full], [_cosine(k, 5e-4, 1e-6, 6) for k in range(6)], rtol=1e-9)

    killed: list = []

    def kill_at_5(r) -> None:
        killed.append(r)
        if r.iteration == 5:
            raise _Killed  # after step 5, whose progress is lost: the newest snapshot is step_4 (mid-epoch 1)

    from smplestx.train.trainer import run_training

    with pytest.raises(_Killed):
        run_training(_config(synth, tmp_path / "cut", *extra), dataset=make_dataset(synth), on_step=kill_at_5)
    assert (tmp_path / "cut" / "checkpoints" / "latest").read_text().strip() == "step_4.pth.tar"
    with pytest.raises(ConfigError, match="--resume"):
        run(_config(synth, tmp_path / "cut", *extra), make_dataset(synth))

    resumed, rec_res = run(_config(synth, tmp_path / "cut", *extra), make_dataset(synth), resume=True)
    assert [r.iteration for r in rec_res] == [5, 6]
    for a, b in zip(rec_full[4:], rec_res):
        assert (a.epoch, a.indices, a.lr, a.losses, a.total) == (b.epoch, b.indices, b.lr, b.losses, b.total)
    print("per-step total loss, uninterrupted:", [round(r.total, 6) for r in rec_full])
    print("killed after step 5, resumed from step 4:", [round(r.total, 6) for r in killed], "+", [round(r.total, 6) for r in rec_res])
    # Same final weights and optimizer state, bit for bit; the metrics log holds each step once.
    a = torch.load(full.last_snapshot, weights_only=True)
    b = torch.load(resumed.last_snapshot, weights_only=True)
    assert all(torch.equal(a["network"][k], b["network"][k]) for k in a["network"])
    assert all(torch.equal(a["optimizer"]["state"][i]["exp_avg_sq"], b["optimizer"]["state"][i]["exp_avg_sq"]) for i in a["optimizer"]["state"])
    lines = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [x["iteration"] for x in lines] == list(range(1, 7))
    assert [x["total"] for x in lines] == [r.total for r in rec_full]


def test_snapshot_is_official_layout_and_loads(synth: dict[str, Path], tmp_path: Path, tiny_ckpt: Path, tiny_config: Path) -> None:
    from smplestx.models.loading import load_model

    cfg = _config(synth, tmp_path / "run", "train.end_epoch=1", f'model.official_config="{tiny_config}"')
    result, _ = run(cfg, make_dataset(synth))
    snap = result.last_snapshot
    assert snap is not None and snap.name == "snapshot_0.pth.tar"
    state = torch.load(snap, weights_only=True)
    ref = torch.load(tiny_ckpt, weights_only=True)
    assert {"epoch", "network", "optimizer"} <= set(state) and state["epoch"] == 0
    assert list(state["network"]) == list(ref["network"])  # same names, same order, module. prefix, no smplx_layer
    assert [tuple(v.shape) for v in state["network"].values()] == [tuple(v.shape) for v in ref["network"].values()]
    assert sorted(state["optimizer"]["state"]) == sorted(ref["optimizer"]["state"])  # Adam state indexed as the reference's
    assert state["optimizer"]["param_groups"][0].keys() == ref["optimizer"]["param_groups"][0].keys()
    crops = torch.rand(2, 3, 512, 384)
    outs = []
    for path in (snap, snap.with_name("snapshot_0.safetensors")):
        model = load_model(path, body_models=synth["body"], config=None if path.suffix == ".safetensors" else tiny_config)
        outs.append(model.predict_crops(crops).vertices)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_schedule_is_the_reference_cosine(synth: dict[str, Path], tmp_path: Path) -> None:
    from smplestx.train.trainer import Trainer

    # 6 samples, batch 4: the reference's T_max counts ceil(6 / 4) = 2 iterations per epoch, the loader runs 1.
    cfg = _config(synth, tmp_path / "run", "train.end_epoch=3", "train.batch_size=4", "train.lr=1e-3", "train.min_lr=1e-5")
    trainer = Trainer(cfg, dataset=make_dataset(synth))
    assert len(trainer.dataset) == 6 and trainer.iters_per_epoch == 1
    assert trainer.scheduler.T_max == 3 * 2 and trainer.scheduler.eta_min == 1e-5


def _cosine(step: int, lr: float, min_lr: float, t_max: int) -> float:
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * step / t_max)) / 2


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_steps_run(synth: dict[str, Path], tmp_path: Path, amp: str) -> None:
    cfg = _config(synth, tmp_path / amp, f'train.amp="{amp}"', "train.max_steps=2", "train.grad_clip=1.0")
    result, records = run(cfg, make_dataset(synth))
    assert result.iteration == 2 and all(math.isfinite(r.total) for r in records)
    line = json.loads((tmp_path / amp / "metrics.jsonl").read_text().splitlines()[-1])
    assert "grad_norm" in line
    # Same weights and batch before the first update: the reduced-precision loss is the fp32 loss up to
    # rounding (a wrong cast or a skipped term would move it by far more than 5 %).
    _, full = run(_config(synth, tmp_path / f"{amp}_fp32", "train.max_steps=1", "train.grad_clip=1.0"), make_dataset(synth))
    assert records[0].total == pytest.approx(full[0].total, rel=0.05)


# ---------------------------------------------------------------------------------------------------------------
# Starting weights and freezing.


def _fake_vitpose(path: Path) -> dict[str, torch.Tensor]:
    """A ViTPose-style (mmpose) checkpoint for the tiny encoder: backbone.* + a keypoint head, one mis-shaped tensor."""
    from smplestx.nn.vit import ViTEncoder

    torch.manual_seed(0)
    enc = ViTEncoder(64, 2, 4, task_tokens_num=80)
    state = {f"backbone.{k}": v.clone() for k, v in enc.state_dict().items() if k != "task_tokens"}
    state["backbone.blocks.1.mlp.fc2.bias"] = torch.zeros(65)  # mis-shaped on purpose
    state["keypoint_head.final_layer.weight"] = torch.zeros(17, 64, 1, 1)
    torch.save({"meta": {"epoch": 210}, "state_dict": state}, path)
    return state


def test_vitpose_init_freeze_and_finetune(synth: dict[str, Path], tmp_path: Path, tiny_ckpt: Path, tiny_config: Path) -> None:
    from smplestx.train.pretrained import load_vitpose_encoder
    from smplestx.train.trainer import Trainer

    vitpose = tmp_path / "vitpose_tiny.pth"
    state = _fake_vitpose(vitpose)
    cfg = _config(synth, tmp_path / "run", f'model.encoder_pretrained="{vitpose}"', "model.freeze_blocks=1", "train.max_steps=1")
    trainer = Trainer(cfg, dataset=make_dataset(synth))
    report = trainer.encoder_init
    n_enc = len(trainer.net.encoder.state_dict())
    print(report.summary())
    assert len(report.loaded) == n_enc - 2  # all but task_tokens (not in ViTPose) and the mis-shaped fc2 bias
    assert report.missing == ["task_tokens"] and report.skipped == ["keypoint_head.final_layer.weight"]
    assert report.mis_shaped == ["blocks.1.mlp.fc2.bias: file (65,) vs encoder (64,)"]
    trainer.fit()
    enc = trainer.net.encoder.state_dict()
    # Frozen stem + block 0 still hold the ViTPose values after a step; block 1 (trainable) moved.
    assert torch.equal(enc["blocks.0.attn.qkv.weight"], state["backbone.blocks.0.attn.qkv.weight"])
    assert torch.equal(enc["pos_embed"], state["backbone.pos_embed"])
    assert not torch.equal(enc["blocks.1.attn.qkv.weight"], state["backbone.blocks.1.attn.qkv.weight"])
    assert "encoder.blocks.0.mlp.fc1.weight" in trainer.frozen and "encoder.blocks.1.mlp.fc1.weight" not in trainer.frozen

    with pytest.raises(Exception, match="no tensor of this file fits"):
        from smplestx.nn.vit import ViTEncoder

        load_vitpose_encoder(ViTEncoder(32, 1, 4), vitpose)

    # Finetune from the official tiny snapshot; start_over = false continues after its epoch with its optimizer.
    cfg = _config(synth, tmp_path / "ft", f'model.official_config="{tiny_config}"', f'model.finetune_from="{tiny_ckpt}"',
                  "model.finetune_start_over=false", "train.end_epoch=3", "train.max_steps=4")
    ft = Trainer(cfg, dataset=make_dataset(synth))
    ref = torch.load(tiny_ckpt, weights_only=True)
    assert ft.epoch == ref["epoch"] + 1 and ft.iteration == ft.iters_per_epoch
    torch.testing.assert_close(ft.net.state_dict()["encoder.pos_embed"], ref["network"]["module.encoder.pos_embed"], rtol=0, atol=0)
    assert ft.optimizer.state_dict()["state"][0]["step"] == ref["optimizer"]["state"][0]["step"]


def test_grad_checkpointing_gives_the_same_gradients() -> None:
    from smplestx.models.config import EncoderConfig
    from smplestx.models.smplest_x import DecoderConfig, SMPLestXConfig
    from smplestx.nn.network import SMPLestXNet

    torch.manual_seed(0)
    cfg = SMPLestXConfig(encoder=EncoderConfig(embed_dim=64, depth=2, num_heads=4, task_tokens_num=8),
                      decoder=DecoderConfig(feat_dim=64, dim_out=32, task_tokens_num=8))
    net = SMPLestXNet(cfg)
    enc = net.encoder
    x = torch.rand(2, 3, 256, 192)
    grads = []
    for ckpt in (False, True):
        net.set_grad_checkpointing(ckpt)
        enc.zero_grad()
        feat, tokens = enc(x)
        (feat.square().mean() + tokens.abs().mean()).backward()
        grads.append([p.grad.clone() for p in enc.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------------------------
# Two processes (gloo), through the command line as torchrun starts it.


@pytest.mark.slow
def test_two_process_ddp_run_is_rank_disjoint_and_loads(synth: dict[str, Path], tmp_path: Path) -> None:
    from smplestx.models.loading import load_model

    out = tmp_path / "ddp"
    cfg = tmp_path / "ddp.toml"
    cfg.write_text(
        "[data]\n"
        f'datasets = ["synthetic"]\ndata_dir = "{synth["root"]}"\nstrategy = "concat"\ntotal_data_len = "auto"\n'
        "[model]\n"
        f'size = "S"\nembed_dim = 64\ndepth = 2\nnum_heads = 4\ndim_out = 32\nbody_models = "{synth["body"]}"\n'
        "[train]\n"
        'end_epoch = 2\nbatch_size = 1\nnum_workers = 1\nlog_every = 1\ndevice = "cpu"\nlog_sample_indices = true\nprogress = false\n'
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
           "-m", "smplestx", "train", str(cfg), "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    ranks = [[json.loads(x) for x in (out / f"samples_rank{r}.jsonl").read_text().splitlines()] for r in range(2)]
    n = len(make_dataset(synth))
    for epoch in (0, 1):
        seen = [[i for x in rank if x["epoch"] == epoch for i in x["indices"]] for rank in ranks]
        print(f"epoch {epoch}: rank 0 saw {seen[0]}, rank 1 saw {seen[1]}")
        assert not set(seen[0]) & set(seen[1]) and sorted(seen[0] + seen[1]) == list(range(n))
    assert [x["iteration"] for x in ranks[0]] == [x["iteration"] for x in ranks[1]] == list(range(1, n + 1))
    snap = out / "checkpoints" / "snapshot_1.pth.tar"
    state = torch.load(snap, weights_only=True)
    assert state["epoch"] == 1 and state["world_size"] == 2 and len(state["rng"]) == 2
    assert all(k.startswith("module.") for k in state["network"])
    model = load_model(out / "checkpoints" / "snapshot_1.safetensors", body_models=synth["body"])
    assert model.config.encoder.embed_dim == 64
    assert torch.isfinite(model.predict_crops(torch.rand(1, 3, 512, 384)).vertices).all()


@pytest.mark.slow
def test_sigterm_stops_with_a_snapshot_and_resume_finishes(synth: dict[str, Path], tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "sig"
    cfg = tmp_path / "sig.toml"
    cfg.write_text(
        f'[data]\ndatasets = ["synthetic"]\ndata_dir = "{synth["root"]}"\nstrategy = "concat"\ntotal_data_len = "auto"\n'
        f'[model]\nsize = "S"\nembed_dim = 64\ndepth = 2\nnum_heads = 4\ndim_out = 32\nbody_models = "{synth["body"]}"\n'
        '[train]\nend_epoch = 50\nbatch_size = 2\nnum_workers = 0\nlog_every = 1\ndevice = "cpu"\nprogress = false\n'
    )
    cmd = [sys.executable, "-m", "smplestx", "train", str(cfg), "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not ((out / "metrics.jsonl").is_file() and (out / "metrics.jsonl").read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped early" in stdout and "signal 15" in stderr
    latest = (out / "checkpoints" / "latest").read_text().strip()
    done = torch.load(out / "checkpoints" / latest, weights_only=True)["iteration"]
    proc = subprocess.run([*cmd, "--resume", "--set", "train.end_epoch=2"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x)["iteration"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert done >= 1 and lines == list(range(1, lines[-1] + 1))


def test_pth_snapshot_carries_its_model_config(tmp_path):
    """A snapshot of a non-preset width loads without --config: the trainer stores the config in it."""
    import json

    import torch

    from smplestx.models.checkpoint import read_checkpoint
    from smplestx.models.smplest_x import SMPLestXConfig, preset

    cfg = preset("S")
    obj = {"epoch": 0, "network": {"module.x": torch.zeros(1)}, "model_config": json.dumps(cfg.to_dict())}
    torch.save(obj, tmp_path / "snap.pth.tar")
    _, stored = read_checkpoint(tmp_path / "snap.pth.tar")
    assert isinstance(stored, SMPLestXConfig) and stored.to_dict() == cfg.to_dict()
