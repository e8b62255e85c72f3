"""The training-only heat-map head: its targets, its loss, and a run that trains, snapshots and resumes with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smplestx.models.config import ConfigError
from smplestx.train.aux_heatmap import AUX_JOINTS, AuxHeatmapHead, aux_heatmap_loss, soft_argmax
from train_helpers import make_config, make_dataset, make_synth, run

TINY = ['model.size="S"', "model.embed_dim=64", "model.depth=2", "model.num_heads=4", "model.dim_out=32"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Six rendered mannequins as a HumanData training set."""
    return make_synth(tmp_path_factory.mktemp("synthetic"))


def test_soft_argmax_reads_joints_on_the_training_grid() -> None:
    # A heat map 4x finer than the 16 x 12 training grid, peaked on one cell: its soft-argmax is that cell's centre.
    maps = torch.full((1, 2, 64, 48), -50.0)
    maps[0, 0, 22, 14] = 50.0  # fine cell (x 14, y 22) covers [3.5, 3.75) x [5.5, 5.75) of the training grid
    maps[0, 1] = 0.0  # flat: the grid's centre
    xy = soft_argmax(maps, (16, 12))
    torch.testing.assert_close(xy[0, 0], torch.tensor([3.625 - 0.5, 5.625 - 0.5]))
    torch.testing.assert_close(xy[0, 1], torch.tensor([5.5, 7.5]))


def test_loss_is_zero_at_the_target_and_ignores_joints_outside_the_crop() -> None:
    b, j = 2, len(AUX_JOINTS)
    maps = torch.randn(b, j, 32, 24, requires_grad=True)
    joint_img = torch.zeros(b, 137, 3)
    joint_img[:, list(AUX_JOINTS), :2] = soft_argmax(maps, (16, 12)).detach()
    trunc = torch.ones(b, 137, 1)
    assert float(aux_heatmap_loss(maps, joint_img, trunc, (16, 12)).detach().max()) < 1e-5
    joint_img[:, :, 0] += 1.0  # one cell off in x
    loss = aux_heatmap_loss(maps, joint_img, trunc, (16, 12))
    assert loss.shape == (b, j, 2)
    torch.testing.assert_close(loss[..., 0], torch.ones(b, j), atol=1e-5, rtol=0)
    trunc[0, 3] = 0  # joint 3 of sample 0 outside the crop: it teaches nothing
    loss = aux_heatmap_loss(maps, joint_img, trunc, (16, 12))
    assert float(loss[0, 3].detach().abs().sum()) == 0.0
    loss.sum().backward()
    assert float(maps.grad[0, 3].abs().sum()) == 0.0 and float(maps.grad[1, 3].abs().sum()) > 0


def test_head_upsamples_the_patch_grid_four_times() -> None:
    head = AuxHeatmapHead(64)
    assert head(torch.rand(2, 64, 8, 6)).shape == (2, len(AUX_JOINTS), 32, 24)


def test_run_with_the_head_trains_snapshots_resumes_and_ships_without_it(synth: dict[str, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    extra = ("train.end_epoch=2", "train.aux_heatmap_weight=10", "train.lr=1e-3", "data.no_aug=true",
             "model.drop_path_rate=0.0")
    cfg = make_config(synth, tmp_path / "run", TINY, *extra, "train.max_steps=4", "train.save_every_steps=2")
    result, records = run(cfg, make_dataset(synth, augment=False))
    assert all("aux_heatmap" in r.losses for r in records)
    snap = torch.load(result.last_snapshot, weights_only=True)
    assert set(snap["aux_heatmap_head"]) == set(AuxHeatmapHead(64).state_dict())
    assert len(snap["optimizer"]["param_groups"]) == 2  # the network's group first, as the reference's, then the head's

    # Resuming without the head's weight would silently drop it: refused in one line.
    with pytest.raises(ConfigError, match="aux_heatmap_weight"):
        run(make_config(synth, tmp_path / "run", TINY, "train.end_epoch=2", "data.no_aug=true"),
            make_dataset(synth, augment=False), resume=True)
    done, rest = run(make_config(synth, tmp_path / "run", TINY, *extra), make_dataset(synth, augment=False), resume=True)
    assert [r.iteration for r in rest] == [5, 6] and not done.stopped_early
    # The epoch-end weights file is the SMPLest-X network alone: the head exists only while training.
    weights = load_file(str(done.last_snapshot.with_name(done.last_snapshot.name.replace(".pth.tar", ".safetensors"))))
    assert weights and not any("aux" in k or k.startswith("layers.") for k in weights)


def test_head_is_refused_where_it_cannot_apply(synth: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SMPLer-X trains its own heat maps"):
        make_config(synth, tmp_path / "a", ['model.family="smpler_x"', 'model.size="S32"'], "train.aux_heatmap_weight=1")
    with pytest.raises(ConfigError, match="aux_heatmap_weight: must be a finite number"):
        make_config(synth, tmp_path / "b", TINY, "train.aux_heatmap_weight=-1")
