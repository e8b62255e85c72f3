"""Dataset mixing (concat / balance / weighted, as the reference's MultipleDatasets) and the training-set registry."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from smplestx.synthetic.dataset import write_synthetic_dataset
from smplestx.train.mixing import (
    BalancedDataset,
    ConcatDataset,
    WeightedDataset,
    _shuffled,
    build_mixed,
    weighted_lengths,
)
from smplestx.train.registry import REGISTRY, build_dataset, get_spec
from smplestx.train.samples import HumanDataTrainSet


class Toy:
    """A dataset of (name, index, key) records with an epoch."""

    def __init__(self, name: str, size: int) -> None:
        self.name, self.size, self.epoch = name, size, 0

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def get(self, index: int, key: tuple[int, ...]) -> tuple[str, int, tuple[int, ...]]:
        assert 0 <= index < self.size
        return self.name, index, key

    def __getitem__(self, index: int) -> tuple[str, int, tuple[int, ...]]:
        return self.get(index, (self.epoch, index))


def test_reference_shuffle_is_reproduced() -> None:
    items = list(range(37))
    random.seed(2023)
    random.shuffle(items)
    assert _shuffled(37, 2023) == items


def test_concat() -> None:
    mix = build_mixed([Toy("a", 3), Toy("b", 2)], "concat")
    assert isinstance(mix, ConcatDataset) and len(mix) == 5
    assert [mix[i][:2] for i in range(5)] == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    with pytest.raises(IndexError):
        mix[5]


def test_balance_equal_shares_repeats_and_subsets() -> None:
    small, large = Toy("small", 2), Toy("large", 10)
    mix = build_mixed([small, large], "balance", total_len=11)
    assert isinstance(mix, BalancedDataset) and len(mix) == 11 and mix.per_set == 5
    located = [mix.locate(i) for i in range(11)]
    assert [db for db, _ in located[:10]] == [0] * 5 + [1] * 5
    order_small, order_large = _shuffled(2, 2023), _shuffled(10, 2023)
    # Whole copies of the small set (items 0..3 of its quota), then one random pick.
    assert [item for _, item in located[:4]] == [order_small[0], order_small[1]] * 2
    assert located[4][1] in (0, 1)
    # The large set contributes the first 5 of its fixed shuffle.
    assert [item for _, item in located[5:10]] == order_large[:5]
    assert located[10][0] in (0, 1)  # the leftover index: a random set
    # "auto": the sum of the sizes; the mapping is a function of (seed, epoch, index).
    assert len(build_mixed([small, large], "balance", total_len="auto")) == 12
    again = build_mixed([Toy("small", 2), Toy("large", 10)], "balance", total_len=11)
    assert [again.locate(i) for i in range(11)] == located
    picks = set()
    for epoch in range(20):
        mix.set_epoch(epoch)
        picks.add(mix.locate(4))
    assert picks == {(0, 0), (0, 1)}


def test_weighted_lengths_and_mapping() -> None:
    assert weighted_lengths([1, 3], 8) == [2, 6]
    assert sum(weighted_lengths([1, 1, 1], 10)) == 10
    mix = build_mixed([Toy("a", 4), Toy("b", 3)], "weighted", total_len=8, weights=[1, 3])
    assert isinstance(mix, WeightedDataset) and len(mix) == 8 and mix.lengths == [2, 6]
    located = [mix.locate(i) for i in range(8)]
    assert [db for db, _ in located] == [0, 0, 1, 1, 1, 1, 1, 1]
    assert [item for _, item in located[:2]] == _shuffled(4, 2023)[:2]
    assert [item for _, item in located[2:8]] == _shuffled(3, 2023) * 2
    explicit = build_mixed([Toy("a", 4), Toy("b", 3)], "weighted", lengths=[1, 1])
    assert len(explicit) == 2
    with pytest.raises(ValueError, match="weights"):
        build_mixed([Toy("a", 4)], "weighted", weights=[0.0])
    with pytest.raises(ValueError, match="unknown mixing strategy"):
        build_mixed([Toy("a", 4)], "shuffle")


def test_epoch_and_augmentation_key_pass_through() -> None:
    a, b = Toy("a", 3), Toy("b", 3)
    mix = build_mixed([a, b], "balance", total_len=6)
    mix.set_epoch(4)
    assert a.epoch == 4 and b.epoch == 4
    name, item, key = mix[5]
    assert name == "b" and key == (4, 5)  # the global index keys the augmentation of repeated items


def test_registry_names_and_reference_intervals() -> None:
    reference = {"BEDLAM": 5, "SynBody": 10, "EgoBody_Kinect": 10, "UBody": 10, "MPI_INF_3DHP": 5,
                 "InstaVariety": 10, "RenBody_HiRes": 5, "ARCTIC": 10, "RenBody": 10, "Talkshow": 10}
    for name, interval in reference.items():
        assert REGISTRY[name].sample_interval == interval
    assert get_spec("synhand").files == ("synhand_20240927_241004_4628_fix_betas.npz",)
    assert get_spec("SynHand").image_dir == "img/synbody" and get_spec("SynHand").annot_dir == "annot"
    assert all(spec.files and spec.source for spec in REGISTRY.values())
    with pytest.raises(KeyError, match="unknown training set"):
        get_spec("NoSuchSet")


def test_missing_file_error_names_file_and_origin(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        build_dataset("BEDLAM", tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "preprocessed_datasets" / "bedlam_train.npz") in msg and "SMPLer-X" in msg
    with pytest.raises(FileNotFoundError, match="ASSUMED"):
        build_dataset("UBody", tmp_path)


@pytest.fixture(scope="module")
def body(synthetic_body: Path) -> Path:
    return synthetic_body


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory, body: Path) -> Path:
    out = tmp_path_factory.mktemp("synthetic_mix")
    write_synthetic_dataset(out, 2, seed=2, body_models=body, image_size=(160, 120), people_per_image=1)
    return out


def test_build_synthetic_and_multi_part_sets(synth: Path, body: Path, tmp_path: Path) -> None:
    ds = build_dataset("synthetic", synth, seed=1)
    assert isinstance(ds, HumanDataTrainSet) and len(ds) == 2
    inputs, targets, meta = ds[0]
    assert inputs["img"].shape == (3, 512, 384)
    # A two-part set laid out as SMPLer-X does (files under preprocessed_datasets, images in data_dir).
    data = tmp_path / "data"
    (data / "preprocessed_datasets").mkdir(parents=True)
    shutil.copytree(synth / "images" / "train", data / "train")
    for k in range(2):
        shutil.copy(synth / "annotations" / "synthetic_train.npz",
                    data / "preprocessed_datasets" / f"CHI3D_train_230511_1492_{k}.npz")
    chi3d = build_dataset("CHI3D", data, body_models=body, augment=False)
    assert isinstance(chi3d, ConcatDataset) and len(chi3d) == 4
    # CHI3D stores flat-hand-mean poses: the model's hand mean is subtracted (the registry's trait).
    from smplestx.body import load_smplx_arrays, resolve_model_dir

    mean = load_smplx_arrays(resolve_model_dir(body), "neutral")["hands_meanl"]
    plain = build_dataset("synthetic", synth, augment=False)
    np.testing.assert_allclose(chi3d[2][1]["smplx_pose"][66:111], plain[0][1]["smplx_pose"][66:111] - mean, atol=1e-6)
    mix = build_mixed([ds, chi3d], "balance", total_len=6, seed=3)
    mix.set_epoch(2)
    first = mix[5]
    assert np.array_equal(first[1]["joint_img"], mix[5][1]["joint_img"])
    assert first[0]["img"].shape == (3, 512, 384)
    with pytest.raises(ValueError, match="flat_hand_mean"):  # that needs the body model
        build_dataset("CHI3D", data)
