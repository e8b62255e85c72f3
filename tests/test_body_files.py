"""Model-file lookup and reading, shapedirs layouts, evaluation assets and the restricted pickle reader."""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import (
    BodyModel,
    BodyModelFileError,
    UnsafePickleError,
    hand_regressors,
    load_face_vertex_ids,
    load_hand_vertex_ids,
    load_j14_regressor,
    load_smplx_arrays,
    read_array_pickle,
    resolve_model_dir,
)
from smplestx.body.model_files import split_shapedirs

PARITY = Path(__file__).resolve().parents[1].parent / "shared" / "parity"
PARITY_SMPLX = PARITY / "smplx"
needs_parity = pytest.mark.skipif(
    not (PARITY_SMPLX / "SMPLX_NEUTRAL.npz").is_file(), reason=f"parity body model not found at {PARITY_SMPLX}"
)


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------------------------------------ model dir


@needs_parity
def test_resolve_layouts(tmp_path: Path) -> None:
    assert resolve_model_dir(PARITY) == PARITY_SMPLX  # folder holding smplx/
    assert resolve_model_dir(PARITY_SMPLX) == PARITY_SMPLX  # smplx/ itself
    assert resolve_model_dir(PARITY_SMPLX / "SMPLX_NEUTRAL.npz") == PARITY_SMPLX  # a model file
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "SMPLX_NEUTRAL.npz").symlink_to(PARITY_SMPLX / "SMPLX_NEUTRAL.npz")
    assert resolve_model_dir(str(flat)) == flat


def test_resolve_missing(tmp_path: Path) -> None:
    with pytest.raises(BodyModelFileError) as info:
        resolve_model_dir(tmp_path / "nowhere")
    msg = one_line(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path / "nowhere") in msg and "https://smpl-x.is.tue.mpg.de" in msg
    assert "smplestx synthetic-body" in msg and "non-commercial" in msg


@needs_parity
def test_load_arrays() -> None:
    arrays = load_smplx_arrays(PARITY)
    assert arrays["v_template"].shape == (10475, 3) and arrays["v_template"].dtype == np.float64
    assert arrays["f"].dtype == np.int64 and arrays["kintree_table"][0, 0] == 2**32 - 1
    assert arrays["shapedirs"].shape == (10475, 3, 20) and arrays["posedirs"].shape == (10475, 3, 486)
    assert arrays["dynamic_lmk_faces_idx"].shape == (79, 17)


@needs_parity
def test_missing_gender_file_names_it() -> None:
    with pytest.raises(BodyModelFileError, match="SMPLX_MALE.npz") as info:
        load_smplx_arrays(PARITY, "male")
    one_line(info.value)
    with pytest.raises(ValueError, match="gender"):
        load_smplx_arrays(PARITY, "robot")


def test_missing_key_and_bad_shape(tmp_path: Path) -> None:
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", v_template=np.zeros((10, 3)), f=np.zeros((4, 3), np.int32))
    with pytest.raises(BodyModelFileError, match="posedirs") as info:
        load_smplx_arrays(tmp_path)
    assert "SMPLX_NEUTRAL.npz" in one_line(info.value)

    nv, nj = 12, 55
    good = {
        "v_template": np.zeros((nv, 3)), "f": np.zeros((4, 3), np.int64), "J_regressor": np.zeros((nj, nv)),
        "weights": np.zeros((nv, nj)), "kintree_table": np.zeros((2, nj), np.int64),
        "shapedirs": np.zeros((nv, 3, 20)), "posedirs": np.zeros((nv, 3, 486)), "hands_meanl": np.zeros(45),
        "hands_meanr": np.zeros(45), "lmk_faces_idx": np.zeros(5, np.int64), "lmk_bary_coords": np.zeros((5, 3)),
    }
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **good)
    assert load_smplx_arrays(tmp_path)["posedirs"].shape == (nv, 3, 486)
    for key, bad in (("weights", np.zeros((nv, 54))), ("shapedirs", np.zeros((nv, 3, 12))),
                     ("f", np.zeros((4, 3)))):
        np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **{**good, key: bad})
        with pytest.raises(BodyModelFileError, match=key) as info:
            load_smplx_arrays(tmp_path)
        one_line(info.value)


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", v_template=np.array([{"x": 1}], dtype=object))
    with pytest.raises(BodyModelFileError, match="SMPLX_NEUTRAL.npz"):
        load_smplx_arrays(tmp_path)


# ------------------------------------------------------------------------------------------------ shapedirs


def test_split_shapedirs_layouts(caplog: pytest.LogCaptureFixture) -> None:
    old = np.arange(4 * 3 * 20, dtype=np.float64).reshape(4, 3, 20)
    shape, expr, nb, ne = split_shapedirs(old, 10, 10)
    assert (nb, ne) == (10, 10) and np.array_equal(shape, old[:, :, :10]) and np.array_equal(expr, old[:, :, 10:20])
    with caplog.at_level(logging.WARNING):
        shape, expr, nb, ne = split_shapedirs(old, 16, 5)
    assert (nb, ne) == (10, 5) and np.array_equal(expr, old[:, :, 10:15]) and "shape components" in caplog.text
    new = np.arange(2 * 3 * 400, dtype=np.float64).reshape(2, 3, 400)
    shape, expr, nb, ne = split_shapedirs(new, 16, 50)
    assert np.array_equal(shape, new[:, :, :16]) and np.array_equal(expr, new[:, :, 300:350])
    for bad in (12, 300, 399):
        with pytest.raises(BodyModelFileError, match=str(bad)):
            split_shapedirs(np.zeros((2, 3, bad)), 10, 10)


@needs_parity
def test_400_component_layout_matches_oracle(tmp_path: Path) -> None:
    smplx = pytest.importorskip("smplx")
    with np.load(PARITY_SMPLX / "SMPLX_NEUTRAL.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    rng = np.random.default_rng(0)
    # Newer official layout: 300 shape + 100 expression components.
    shapedirs = rng.normal(0.0, 1e-3, (10475, 3, 400)).astype(np.float32)
    shapedirs[:, :, :10] = arrays["shapedirs"][:, :, :10]
    arrays["shapedirs"] = shapedirs.astype(np.float64)
    (tmp_path / "smplx").mkdir()
    np.savez(tmp_path / "smplx" / "SMPLX_NEUTRAL.npz", **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = smplx.create(str(tmp_path), "smplx", gender="neutral", use_pca=False, use_face_contour=True,
                           num_betas=16, num_expression_coeffs=12, dtype=torch.float64)
    ours = BodyModel.from_dir(tmp_path, num_betas=16, num_expression=12, dtype=torch.float64)
    assert (ours.num_betas, ours.num_expression) == (16, 12)
    g = torch.Generator().manual_seed(0)
    p = {
        "betas": torch.randn(3, 16, generator=g, dtype=torch.float64),
        "expression": torch.randn(3, 12, generator=g, dtype=torch.float64) * 3,
        "body_pose": torch.randn(3, 63, generator=g, dtype=torch.float64) * 0.3,
    }
    zeros = {k: torch.zeros(3, n, dtype=torch.float64) for k, n in
             (("global_orient", 3), ("left_hand_pose", 45), ("right_hand_pose", 45), ("jaw_pose", 3),
              ("leye_pose", 3), ("reye_pose", 3), ("transl", 3))}
    with torch.no_grad():
        a, b = ours(**p), ref(**p, **zeros)
    assert (a.vertices - b.vertices).abs().max() < 1e-6 and (a.joints - b.joints).abs().max() < 1e-6


# ------------------------------------------------------------------------------------------------ assets


@needs_parity
def test_parity_assets_load() -> None:
    j14 = load_j14_regressor(PARITY)
    assert j14.shape == (14, 10475) and j14.dtype == np.float32
    assert np.allclose(j14.sum(1), 1.0, atol=1e-5)
    hands = load_hand_vertex_ids(PARITY_SMPLX)
    assert set(hands) == {"left_hand", "right_hand"}
    assert hands["left_hand"].shape == (778,) and hands["right_hand"].shape == (778,)
    assert hands["left_hand"].dtype == np.int64
    face = load_face_vertex_ids(PARITY)
    assert face.shape == (5023,) and face.dtype == np.int64 and face.max() < 10475


def test_missing_asset_names_file(tmp_path: Path) -> None:
    for loader, name in ((load_j14_regressor, "SMPLX_to_J14.pkl"), (load_hand_vertex_ids, "MANO_SMPLX_vertex_ids.pkl"),
                         (load_face_vertex_ids, "SMPL-X__FLAME_vertex_ids.npy")):
        with pytest.raises(BodyModelFileError) as info:
            loader(tmp_path)
        msg = one_line(info.value)
        assert name in msg and "only needed for evaluation" in msg and "not part of the official" in msg


def test_hand_regressors_layout() -> None:
    rng = np.random.default_rng(1)
    reg = rng.random((55, 10475)).astype(np.float32)
    out = hand_regressors(reg)
    assert out["left"].shape == (21, 10475) and out["right"].shape == (21, 10475)
    assert out["left"].dtype == np.float32

    def onehot(v: int) -> np.ndarray:
        row = np.zeros(10475, np.float32)
        row[v] = 1
        return row

    left = [reg[20], reg[37], reg[38], reg[39], onehot(5361), reg[25], reg[26], reg[27], onehot(4933),
            reg[28], reg[29], reg[30], onehot(5058), reg[34], reg[35], reg[36], onehot(5169),
            reg[31], reg[32], reg[33], onehot(5286)]
    right = [reg[21], reg[52], reg[53], reg[54], onehot(8079), reg[40], reg[41], reg[42], onehot(7669),
             reg[43], reg[44], reg[45], onehot(7794), reg[49], reg[50], reg[51], onehot(7905),
             reg[46], reg[47], reg[48], onehot(8022)]
    assert np.array_equal(out["left"], np.stack(left)) and np.array_equal(out["right"], np.stack(right))


# ------------------------------------------------------------------------------------------------ pickles


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned_x"
    path = tmp_path / "SMPLX_to_J14.pkl"
    path.write_bytes(pickle.dumps(_Exploit(marker), protocol=2))
    with pytest.raises(UnsafePickleError) as info:
        load_j14_regressor(tmp_path)
    msg = one_line(info.value)
    assert str(path) in msg and "system" in msg
    assert not marker.exists()
    with pytest.raises(UnsafePickleError):
        read_array_pickle(path)
    assert not marker.exists()


def test_pickles_of_non_arrays_are_refused(tmp_path: Path) -> None:
    cases = {
        "object_array.pkl": np.array([1, "a"], dtype=object),
        "string.pkl": "hello",
        "set.pkl": {1, 2},
        "callable.pkl": {"f": np.load},
    }
    for name, obj in cases.items():
        path = tmp_path / name
        path.write_bytes(pickle.dumps(obj, protocol=2))
        with pytest.raises(UnsafePickleError):
            read_array_pickle(path)


def test_array_pickles_roundtrip(tmp_path: Path) -> None:
    obj = {"a": np.arange(6, dtype=np.int64).reshape(2, 3), "b": [np.float32(1.5), np.ones(3)], "c": 3}
    for protocol in (2, 4):
        path = tmp_path / f"ok{protocol}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        got = read_array_pickle(path)
        assert np.array_equal(got["a"], obj["a"]) and got["b"][0] == 1.5 and got["c"] == 3
    (tmp_path / "garbage.pkl").write_bytes(b"not a pickle")
    with pytest.raises(BodyModelFileError, match="garbage.pkl"):
        read_array_pickle(tmp_path / "garbage.pkl")
