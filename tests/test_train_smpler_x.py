"""Training SMPLer-X: config family, both loss modes, loss decrease, snapshots that load as SMPLerX, resume, init."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.models.config import ConfigError
from smplestx.train.config import TrainConfig, load_train_config
from train_helpers import PARITY_BODY, make_config, make_dataset, make_synth, run

REPO = Path(__file__).resolve().parents[1]
PARITY = REPO.parent / "shared" / "parity"
SX = PARITY / "smpler_x_tiny"
#: The tiny SMPLer-X of the parity fixture (encoder 64 x 2 blocks, 4 heads; heads as S32's).
TINY_SX = ['model.family="smpler_x"', 'model.size="S"', "model.embed_dim=64", "model.depth=2", "model.num_heads=4"]


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"parity fixtures not available ({path} missing)")
    return path


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Six rendered mannequins as a HumanData training set."""
    return make_synth(tmp_path_factory.mktemp("synthetic_sx"))


def _config(synth: dict[str, Path], out: Path, *extra: str) -> TrainConfig:
    return make_config(synth, out, TINY_SX, *extra)


# ---------------------------------------------------------------------------------------------------------------
# Config.


def test_config_builds_smpler_x_and_refuses_other_family_keys(tmp_path: Path) -> None:
    from smplestx.models.smpler_x import SMPLerXConfig

    cfg = load_train_config(None, TINY_SX)
    mc = cfg.model_config()
    assert isinstance(mc, SMPLerXConfig) and mc.feat_dim == 64 and mc.encoder.task_tokens_num == 31
    assert mc.encoder.drop_path_rate == 0.1  # S's ViTPose recipe rate, as the official body_encoder_small.py
    big = load_train_config(None, ['model.family="smpler_x"', 'model.size="H32*"']).model_config()
    assert (big.encoder.embed_dim, big.encoder.depth, big.feat_dim, big.encoder.drop_path_rate) == (1280, 32, 1280, 0.55)
    # The dumped config reads back to the same object (family and SMPLer-X weights included).
    path = tmp_path / "c.toml"
    cfg = load_train_config(None, [*TINY_SX, "train.smpler_x_loss_weights.net_kps_2d_weight=2"])
    path.write_text(cfg.to_toml())
    assert load_train_config(path) == cfg and cfg.train.smpler_x_loss_weights.net_kps_2d_weight == 2.0

    sx_config = _need(SX / "config_smpler_x_tiny.py")
    official = load_train_config(None, ['model.family="smpler_x"', f'model.official_config="{sx_config}"']).model_config()
    assert official.encoder.embed_dim == 64 and official.encoder.drop_path_rate == 0.0  # the file's, not the size's
    bad = [
        ([f'model.official_config="{sx_config}"'], 'is a smpler_x config; set model.family = "smpler_x"'),
        (['model.family="smpler"'], "model.family: 'smpler' is not one of smplest_x, smpler_x"),
        ([*TINY_SX, 'model.size="XL"'], "unknown smpler_x size 'XL'"),
        ([*TINY_SX, "model.dim_out=32"], "model.dim_out: SMPLer-X has no decoder head"),
        ([*TINY_SX, "model.task_tokens_num=80"], "model.task_tokens_num: SMPLer-X's heads read 31 task tokens"),
        ([*TINY_SX, "train.hand_loss=true"], "train.hand_loss"),
        ([*TINY_SX, "train.loss_weights.smplx_pose_weight=3"], "set SMPLer-X's in train.smpler_x_loss_weights"),
        (["train.smpler_x_loss_weights.net_kps_2d_weight=2"], 'only for model.family = "smpler_x"'),
        ([*TINY_SX, "train.smpler_x_loss_weights.nope=2"], "unknown key 'train.smpler_x_loss_weights.nope'"),
    ]
    for overrides, message in bad:
        with pytest.raises(ConfigError) as err:
            load_train_config(None, overrides)
        assert message in str(err.value) and "\n" not in str(err.value), (overrides, str(err.value))


def test_recipe_is_a_tiny_smpler_x() -> None:
    from smplestx.models.smpler_x import SMPLerXConfig

    cfg = load_train_config(REPO / "configs" / "train" / "smoke_smpler_x_cpu.toml")
    mc = cfg.model_config()
    assert isinstance(mc, SMPLerXConfig) and mc.encoder.embed_dim == 64 and cfg.train.device == "cpu"
    assert cfg.data.datasets == ["synthetic"]


# ---------------------------------------------------------------------------------------------------------------
# Loss modes on the parity batch (cases/train_loss.npz: full, partial, 2D-only and no-hand-box samples).


@pytest.fixture(scope="module")
def sx_model():
    from smplestx.models.loading import load_model

    return load_model(_need(SX / "smpler_x_tiny.pth.tar"), config=SX / "config_smpler_x_tiny.py", body_models=_need(PARITY_BODY))


@pytest.fixture(scope="module")
def loss_case() -> dict[str, np.ndarray]:
    return dict(np.load(_need(SX / "cases" / "train_loss.npz")))


@pytest.fixture(scope="module")
def crops() -> torch.Tensor:
    return torch.from_numpy(np.load(_need(PARITY / "smpler_x_tiny" / "cases" / "model_forward.npz"))["img"])


def _loss_inputs(case: dict[str, np.ndarray], rows: slice = slice(None)) -> tuple[dict, dict]:
    targets = {k[len("target_"):]: torch.from_numpy(v[rows]) for k, v in case.items() if k.startswith("target_")}
    meta = {k[len("meta_"):]: torch.from_numpy(v[rows]) for k, v in case.items() if k.startswith("meta_")}
    return targets, meta


def test_corrected_mode_differs_from_reference_only_where_documented(sx_model, loss_case, crops) -> None:
    from smplestx.train.losses_smpler_x import smpler_x_loss_terms

    targets, meta = _loss_inputs(loss_case)
    with torch.no_grad():
        out = sx_model(crops, train=True)  # eval mode: BatchNorm running statistics, no batch coupling through BN
    ref = smpler_x_loss_terms(out, targets, meta, sx_model.config, mode="reference")
    cor = smpler_x_loss_terms(out, targets, meta, sx_model.config, mode="corrected")
    assert list(cor) == list(ref) and all(v.dtype == torch.float32 for v in cor.values())
    no3d = 2  # the 2D-only sample: zero dummy joint_cam targets and depth
    for key in ref:
        a, b = ref[key].double(), cor[key].double()
        keep = torch.ones_like(a, dtype=torch.bool)
        if key == "smplx_joint_cam":
            assert float(b[no3d].abs().max()) == 0 and float(a[no3d].abs().max()) > 1  # reference: pulled to zeros
            keep[no3d] = False
        if key == "smplx_joint_img":  # its depth target is a dummy 0 for the 2D-only sample
            assert float(b[no3d, :, 2].abs().max()) == 0 and float(a[no3d, :, 2].abs().max()) > 0.1
            keep[no3d, :, 2] = False
        a, b = a[keep], b[keep]
        # Elsewhere the same numbers (the batch has valid hand and face boxes, so the reference re-expresses too).
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=2e-5, err_msg=key)
    # The training sets give pose validity per rotation-matrix entry (477): the same terms.
    m477 = {**meta, "smplx_pose_valid": meta["smplx_pose_valid"][:, ::3].repeat_interleave(9, dim=1)}
    same = smpler_x_loss_terms(out, targets, m477, sx_model.config, mode="corrected")
    assert torch.equal(same["smplx_pose"], cor["smplx_pose"])


def test_corrected_mode_makes_each_sample_independent_of_its_batch(sx_model, loss_case, crops) -> None:
    """Reference: a sample's hand terms depend on its batch-mates' boxes (quirk 26); corrected: not (eval mode)."""
    from smplestx.train.losses_smpler_x import smpler_x_loss_terms

    targets, meta = _loss_inputs(loss_case)
    with torch.no_grad():
        batch = smpler_x_loss_terms(sx_model(crops, train=True), targets, meta, sx_model.config, mode="corrected")
    nohands = 3
    for i in range(crops.shape[0]):
        t, m = _loss_inputs(loss_case, slice(i, i + 1))
        with torch.no_grad():
            alone = smpler_x_loss_terms(sx_model(crops[i : i + 1], train=True), t, m, sx_model.config, mode="corrected")
        assert list(alone) == list(batch)  # box keys always present (zero when the box is not valid)
        for key in batch:
            # The x100 metre and x10 pose terms carry the float32 batch-composition noise of the joints (README).
            tol = 1e-3 if key in ("smplx_pose", "joint_cam", "smplx_joint_cam") else 1e-4
            np.testing.assert_allclose(alone[key][0].detach().numpy(), batch[key][i].detach().numpy(),
                                       rtol=0, atol=tol, err_msg=f"sample {i} {key}")
    # The same sample alone in reference mode keeps body-cell hand targets against hand-cell predictions.
    t, m = _loss_inputs(loss_case, slice(nohands, nohands + 1))
    with torch.no_grad():
        ref_alone = smpler_x_loss_terms(sx_model(crops[nohands : nohands + 1], train=True), t, m, sx_model.config,
                                        mode="reference")
    assert "lhand_bbox" not in ref_alone
    assert float((ref_alone["joint_img"][0] - batch["joint_img"][nohands]).abs().max()) > 0.1


# ---------------------------------------------------------------------------------------------------------------
# Training runs.


@pytest.mark.slow
def test_loss_falls(synth: dict[str, Path], tmp_path: Path) -> None:
    cfg = _config(synth, tmp_path / "run", "train.lr=1e-3", "train.min_lr=0.0", "train.end_epoch=100",
                  "train.save_every=100", "train.max_steps=12", "model.drop_path_rate=0.0", "data.no_aug=true")
    result, records = run(cfg, make_dataset(synth, augment=False))
    losses = [r.total for r in records]
    first, last = float(np.mean(losses[:4])), float(np.mean(losses[-4:]))
    print(f"SMPLer-X loss over 12 steps (mean of first 4 -> last 4): {first:.2f} -> {last:.2f} ({last / first:.0%})")
    assert len(losses) == 12 and result.stopped_early and all(np.isfinite(losses))
    assert last < 0.8 * first
    # All 11 SMPLer-X terms are logged, the box terms included.
    assert set(records[0].losses) == {"smplx_pose", "smplx_shape", "smplx_expr", "joint_cam", "smplx_joint_cam",
                                      "lhand_bbox", "rhand_bbox", "face_bbox", "joint_proj", "joint_img", "smplx_joint_img"}


def test_snapshot_is_official_layout_and_loads_as_smpler_x(synth: dict[str, Path], tmp_path: Path) -> None:
    from smplestx.models.loading import load_model
    from smplestx.models.smpler_x import SMPLerX

    cfg = _config(synth, tmp_path / "run", "train.end_epoch=1", 'train.loss_mode="reference"')
    result, records = run(cfg, make_dataset(synth))
    assert len(records) == 3 and all(np.isfinite(r.total) for r in records)
    snap = result.last_snapshot
    assert snap is not None and snap.name == "snapshot_0.pth.tar"
    state = torch.load(snap, weights_only=True)
    ref = torch.load(_need(SX / "smpler_x_tiny.pth.tar"), weights_only=True)
    assert {"epoch", "network", "optimizer"} <= set(state) and state["epoch"] == 0
    # Same names in the same order as the released SMPLer-X files (module. prefix, no smplx_layer), same shapes.
    assert list(state["network"]) == list(ref["network"])
    assert [tuple(v.shape) for v in state["network"].values()] == [tuple(v.shape) for v in ref["network"].values()]
    crops = torch.rand(2, 3, 512, 384)
    preds = []
    for path in (snap, snap.with_name("snapshot_0.safetensors")):
        model = load_model(path, body_models=synth["body"])  # the family and size come from the file
        assert isinstance(model, SMPLerX) and model.config.feat_dim == 64
        preds.append(model.predict_crops(crops))
    assert preds[0].lhand_box.shape == (2, 4) and torch.isfinite(preds[0].vertices).all()
    torch.testing.assert_close(preds[0].vertices, preds[1].vertices, rtol=0, atol=0)
    torch.testing.assert_close(preds[0].face_box, preds[1].face_box, rtol=0, atol=0)


class _Killed(Exception):
    pass


@pytest.mark.slow
def test_resume_after_kill_reproduces_the_run_exactly(synth: dict[str, Path], tmp_path: Path) -> None:
    # Augmentation, drop path and train-mode BatchNorm on: the resume must restore data position, RNG and BN stats.
    extra = ("train.end_epoch=1", "train.save_every_steps=1", "model.drop_path_rate=0.3", "train.lr=5e-4")
    full, rec_full = run(_config(synth, tmp_path / "full", *extra), make_dataset(synth))
    assert [r.iteration for r in rec_full] == [1, 2, 3]

    def kill_at_2(r) -> None:
        if r.iteration == 2:
            raise _Killed  # step 2's progress is lost: the newest snapshot is step_1

    from smplestx.train.trainer import run_training

    with pytest.raises(_Killed):
        run_training(_config(synth, tmp_path / "cut", *extra), dataset=make_dataset(synth), on_step=kill_at_2)
    assert (tmp_path / "cut" / "checkpoints" / "latest").read_text().strip() == "step_1.pth.tar"
    resumed, rec_res = run(_config(synth, tmp_path / "cut", *extra), make_dataset(synth), resume=True)
    assert [r.iteration for r in rec_res] == [2, 3]
    for a, b in zip(rec_full[1:], rec_res):
        assert (a.epoch, a.indices, a.lr, a.losses, a.total) == (b.epoch, b.indices, b.lr, b.losses, b.total)
    a = torch.load(full.last_snapshot, weights_only=True)["network"]
    b = torch.load(resumed.last_snapshot, weights_only=True)["network"]
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)  # BatchNorm running stats included


# ---------------------------------------------------------------------------------------------------------------
# Starting weights.


def test_finetune_from_official_checkpoint_and_vitpose_init(synth: dict[str, Path], tmp_path: Path) -> None:
    from smplestx.models.checkpoint import CheckpointError
    from smplestx.nn.vit import ViTEncoder
    from smplestx.train.trainer import Trainer

    ckpt = _need(SX / "smpler_x_tiny.pth.tar")
    ft = Trainer(_config(synth, tmp_path / "ft", f'model.finetune_from="{ckpt}"'), dataset=make_dataset(synth))
    ref = torch.load(ckpt, weights_only=True)["network"]
    own = ft.net.state_dict()
    assert all(torch.equal(own[k.removeprefix("module.")], v) for k, v in ref.items())  # every tensor, BN stats too

    # A checkpoint of the other family is refused in one line that names the fix.
    with pytest.raises(CheckpointError, match='smplest_x checkpoint, but the run trains smpler_x.*model.family'):
        Trainer(_config(synth, tmp_path / "wrong", f'model.finetune_from="{_need(PARITY / "smplest_x_tiny" / "smplest_x_tiny.pth.tar")}"'),
                dataset=make_dataset(synth))

    # ViTPose init: the same encoder code as SMPLest-X; the report says what came from the file.
    torch.manual_seed(0)
    enc = ViTEncoder(64, 2, 4, task_tokens_num=31)
    state = {f"backbone.{k}": v.clone() for k, v in enc.state_dict().items() if k != "task_tokens"}
    state["keypoint_head.final_layer.weight"] = torch.zeros(17, 64, 1, 1)
    vitpose = tmp_path / "vitpose_tiny.pth"
    torch.save({"meta": {"epoch": 210}, "state_dict": state}, vitpose)
    tr = Trainer(_config(synth, tmp_path / "vit", f'model.encoder_pretrained="{vitpose}"'), dataset=make_dataset(synth))
    report = tr.encoder_init
    assert report.missing == ["task_tokens"] and report.skipped == ["keypoint_head.final_layer.weight"]
    assert len(report.loaded) == len(enc.state_dict()) - 1 and not report.mis_shaped
    assert torch.equal(tr.net.encoder.state_dict()["blocks.1.attn.qkv.weight"], state["backbone.blocks.1.attn.qkv.weight"])


@pytest.mark.slow
def test_two_process_ddp_run_loads_as_smpler_x(synth: dict[str, Path], tmp_path: Path) -> None:
    """torchrun, 2 CPU processes (gloo), corrected mode (DDP without the unused-parameter search)."""
    import os
    import subprocess
    import sys

    from smplestx.models.loading import load_model
    from smplestx.models.smpler_x import SMPLerX

    out = tmp_path / "ddp"
    cfg = tmp_path / "ddp.toml"
    cfg.write_text(
        f'[data]\ndatasets = ["synthetic"]\ndata_dir = "{synth["root"]}"\nstrategy = "concat"\ntotal_data_len = "auto"\n'
        f'[model]\nfamily = "smpler_x"\nsize = "S32"\nembed_dim = 64\ndepth = 2\nnum_heads = 4\nbody_models = "{synth["body"]}"\n'
        '[train]\nend_epoch = 1\nbatch_size = 1\nnum_workers = 0\nlog_every = 1\ndevice = "cpu"\nprogress = false\n'
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
           "-m", "smplestx", "train", str(cfg), "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    state = torch.load(out / "checkpoints" / "snapshot_0.pth.tar", weights_only=True)
    assert state["world_size"] == 2 and state["iteration"] == len(make_dataset(synth)) // 2
    model = load_model(out / "checkpoints" / "snapshot_0.safetensors", body_models=synth["body"])
    assert isinstance(model, SMPLerX)
    assert torch.isfinite(model.predict_crops(torch.rand(1, 3, 512, 384)).rhand_box).all()


class _NoBoxes(torch.utils.data.Dataset):
    """The synthetic samples with every part box marked invalid (a body-only data set)."""

    def __init__(self, base) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        inputs, targets, meta = self.base[i]
        return inputs, targets, {**meta, "lhand_bbox_valid": 0.0, "rhand_bbox_valid": 0.0, "face_bbox_valid": 0.0}


def test_reference_mode_logs_every_term_without_boxes(synth: dict[str, Path], tmp_path: Path) -> None:
    """Reference mode drops the box terms of a batch without boxes; the log keeps all 11 keys (ranks reduce alike)."""
    import json

    cfg = _config(synth, tmp_path / "run", "train.max_steps=1", 'train.loss_mode="reference"')
    _, records = run(cfg, _NoBoxes(make_dataset(synth)))
    assert "lhand_bbox" not in records[0].losses  # the step's own terms, as the reference computes them
    line = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert len(line["losses"]) == 11 and line["losses"]["lhand_bbox"] == 0.0 and line["losses"]["face_bbox"] == 0.0
    assert line["total"] == pytest.approx(sum(line["losses"].values()), rel=1e-6)
