"""SMPLModel against the smplx 0.1.28 SMPL layer as oracle, the synthetic SMPL model, and the SMPL file reader."""

from __future__ import annotations

import pickle
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import BodyModel, BodyModelFileError, UnsafePickleError, load_smplx_arrays, read_array_pickle
from smplestx.body.smpl import (
    SMPL_NUM_FACES,
    SMPL_NUM_VERTICES,
    SMPL_PARENTS,
    SMPLModel,
    find_smpl_file,
    load_smpl_arrays,
)
from smplestx.synthetic.skeleton import VERTEX_IDS
from smplestx.synthetic.smpl_model import SMPL_VERTEX_IDS

GENDERS = ("neutral", "male", "female")
# metres; in float64 the oracle itself is off by ~1e-8: its Rodrigues adds 1e-8 to every axis-angle component.
TOL = {torch.float64: 5e-8, torch.float32: 2e-6}


@pytest.fixture(scope="module")
def root(synthetic_smpl_models: Path) -> Path:
    return synthetic_smpl_models


@pytest.fixture(scope="module")
def arrays(root: Path) -> dict[str, dict[str, np.ndarray]]:
    return {g: load_smpl_arrays(root, g) for g in GENDERS}


@pytest.fixture(scope="module")
def source(root: Path) -> np.ndarray:
    """smplx2smpl.pkl checked to be a one-hot selection; returns the SMPL-X vertex of every SMPL vertex."""
    matrix = read_array_pickle(root / "smplx2smpl.pkl")["matrix"]
    assert matrix.shape == (6890, 10475) and matrix.dtype == np.float32
    assert (np.count_nonzero(matrix, axis=1) == 1).all() and (matrix.sum(1) == 1).all()
    src = matrix.argmax(1)
    assert np.unique(src).size == 6890
    return src


def _inputs(batch: int, dtype: torch.dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "betas": torch.randn(batch, 10, generator=g, dtype=dtype),
        "body_pose": 0.4 * torch.randn(batch, 69, generator=g, dtype=dtype),
        "global_orient": torch.randn(batch, 3, generator=g, dtype=dtype),
        "transl": torch.randn(batch, 3, generator=g, dtype=dtype),
    }


# ------------------------------------------------------------------------------------------------ oracle


@pytest.mark.parametrize(("gender", "dtype"), [(g, torch.float64) for g in GENDERS] + [("neutral", torch.float32)])
def test_matches_smplx_oracle(root: Path, arrays: dict, gender: str, dtype: torch.dtype) -> None:
    smplx = pytest.importorskip("smplx")
    # smplx.create reads DIR/smpl/SMPL_{GENDER}.pkl: the chumpy-free pickles written next to the .npz files.
    ref = smplx.create(str(root), "smpl", gender=gender.upper(), dtype=dtype)
    # smplx rounds every model array to float32 before building its buffers (utils.to_np), whatever the dtype.
    rounded = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in arrays[gender].items()}
    ours = SMPLModel(rounded, dtype=dtype)
    x = _inputs(5, dtype)
    with torch.no_grad():
        r = ref(**x)
        o = ours(**x)
    assert o.vertices.shape == (5, SMPL_NUM_VERTICES, 3) and o.joints.shape == (5, 24, 3)
    assert (o.vertices - r.vertices).abs().max().item() < TOL[dtype]
    assert (o.joints - r.joints[:, :24]).abs().max().item() < TOL[dtype]
    np.testing.assert_array_equal(ours.faces_np, ref.faces.astype(np.int64))


def test_rotation_matrices_and_defaults(arrays: dict) -> None:
    from smplestx.geometry.rotations import axis_angle_to_rotmat

    model = SMPLModel(arrays["neutral"], dtype=torch.float64)
    x = _inputs(3, torch.float64, seed=1)
    aa = model(**x)
    mats = model(
        betas=x["betas"][:, :4],  # fewer betas: zero-padded
        body_pose=axis_angle_to_rotmat(x["body_pose"].view(3, 23, 3), eps=0.0),
        global_orient=axis_angle_to_rotmat(x["global_orient"].view(3, 1, 3), eps=0.0),
        transl=x["transl"],
        pose2rot=False,
    )
    padded = model(**{**x, "betas": torch.nn.functional.pad(x["betas"][:, :4], (0, 6))})
    assert (mats.vertices - padded.vertices).abs().max().item() < 1e-12
    assert not torch.allclose(aa.vertices, padded.vertices)
    rest = model()
    np.testing.assert_allclose(rest.vertices[0].numpy(), arrays["neutral"]["v_template"], atol=1e-12)
    a = arrays["neutral"]
    np.testing.assert_allclose(model.regress_joints(rest.vertices)[0].numpy(), a["J_regressor"] @ a["v_template"],
                               atol=1e-12)
    with pytest.raises(ValueError, match="body_pose"):
        model(body_pose=torch.zeros(2, 63, dtype=torch.float64))
    with pytest.raises(ValueError, match="betas"):
        model(betas=torch.zeros(1, 11, dtype=torch.float64))
    with pytest.raises(ValueError, match="batch"):
        model(betas=torch.zeros(2, 10), transl=torch.zeros(3, 3))


def test_gradients(arrays: dict) -> None:
    model = SMPLModel(arrays["neutral"], dtype=torch.float64)
    g = torch.Generator().manual_seed(5)
    betas = (0.3 * torch.randn(1, 10, generator=g, dtype=torch.float64)).requires_grad_()
    base = 0.3 * torch.randn(1, 69, generator=g, dtype=torch.float64)
    pose = (0.3 * torch.randn(1, 6, generator=g, dtype=torch.float64)).requires_grad_()
    orient = (0.3 * torch.randn(1, 3, generator=g, dtype=torch.float64)).requires_grad_()
    probe = torch.tensor([0, 332, 2800, 5000, 6889])
    slots = torch.tensor([3, 4, 5, 54, 55, 56])  # spine and left wrist: posedirs, FK and skinning all involved

    def f(b: torch.Tensor, p: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        out = model(b, base.index_add(1, slots, p), o)
        return torch.cat((out.vertices[:, probe].reshape(-1), out.joints.reshape(-1)))

    assert torch.autograd.gradcheck(f, (betas, pose, orient), eps=1e-6, atol=1e-6, fast_mode=True)


def test_batch_is_chunked_consistently(arrays: dict) -> None:
    model = SMPLModel(arrays["male"], dtype=torch.float64)
    x = _inputs(70, torch.float64, seed=2)  # > chunk_size
    big = model(**x)
    one = model(**{k: v[65:66] for k, v in x.items()})
    assert (big.vertices[65:66] - one.vertices).abs().max().item() < 1e-12


# --------------------------------------------------------------------------------------- synthetic files


def test_synthetic_files_are_official_shaped(root: Path) -> None:
    expected = {
        "v_template": ((6890, 3), np.float64),
        "f": ((13776, 3), np.uint32),
        "J_regressor": ((24, 6890), np.float64),
        "J": ((24, 3), np.float64),
        "weights": ((6890, 24), np.float64),
        "kintree_table": ((2, 24), np.int64),
        "shapedirs": ((6890, 3, 10), np.float64),
        "posedirs": ((6890, 3, 207), np.float64),
        "vert_sym_idxs": ((6890,), np.int64),
    }
    for gender in GENDERS:
        with np.load(root / "smpl" / f"SMPL_{gender.upper()}.npz", allow_pickle=False) as npz:
            for key, (shape, dtype) in expected.items():
                assert npz[key].shape == shape and npz[key].dtype == dtype, key
            assert npz["kintree_table"][0, 0] == 2**32 - 1
            np.testing.assert_array_equal(npz["kintree_table"][0, 1:], SMPL_PARENTS[1:])
            np.testing.assert_allclose(npz["weights"].sum(1), 1.0, atol=1e-12)
            np.testing.assert_allclose(npz["J_regressor"].sum(1), 1.0, atol=1e-12)
        with open(root / "smpl" / f"SMPL_{gender.upper()}.pkl", "rb") as fh:
            assert str(pickle.load(fh)["bs_style"]) == "lbs"
    # One closed, consistently wound surface of genus 0: every directed edge has exactly one opposite.
    f = np.load(root / "smpl" / "SMPL_NEUTRAL.npz")["f"].astype(np.int64)
    he = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    keys = he[:, 0] * 7000 + he[:, 1]
    assert np.unique(keys).size == keys.size and np.isin(he[:, 1] * 7000 + he[:, 0], keys).all()
    assert SMPL_NUM_FACES == 2 * SMPL_NUM_VERTICES - 4 == f.shape[0]
    assert np.unique(f).size == SMPL_NUM_VERTICES


def test_smplx2smpl_selects_the_source_vertices(root: Path, source: np.ndarray) -> None:
    src = source
    x = load_smplx_arrays(root, "neutral")
    s = load_smpl_arrays(root, "neutral")
    np.testing.assert_array_equal(s["v_template"], x["v_template"][src])
    # SMPL joints 0-21 are the SMPL-X joints; the smplh vertex ids sit on the matching SMPL-X points.
    smpl_joints = s["J_regressor"] @ s["v_template"]
    np.testing.assert_allclose(smpl_joints[:22], (x["J_regressor"] @ x["v_template"])[:22], atol=1e-12)
    for name in ("nose", "lear", "rear", "LBigToe", "RHeel", "lthumb", "rpinky"):
        assert src[SMPL_VERTEX_IDS[name]] == VERTEX_IDS[name]


def test_smpl_mesh_is_the_mapped_smplx_mesh(root: Path, arrays: dict, source: np.ndarray) -> None:
    """Body-only pose, flat hands: the SMPL mesh equals the SMPL-X mesh mapped by smplx2smpl (same joints,
    weights and blend shapes of the kept vertices)."""
    smplx_layer = BodyModel.from_dir(root, "female", flat_hand_mean=True, face_contour=False, dtype=torch.float64)
    smpl_layer = SMPLModel(arrays["female"], dtype=torch.float64)
    x = _inputs(3, torch.float64, seed=4)
    pose = x["body_pose"].view(3, 23, 3).clone()
    pose[:, 21:] = 0  # SMPL's hand joints (SMPL-X has fingers there)
    xo = smplx_layer(betas=x["betas"], global_orient=x["global_orient"], body_pose=pose[:, :21].reshape(3, -1),
                     transl=x["transl"])
    so = smpl_layer(x["betas"], pose.reshape(3, -1), x["global_orient"], x["transl"])
    mapped = xo.vertices.numpy()[:, source]
    assert np.abs(mapped - so.vertices.numpy()).max() < 1e-9
    assert (so.joints[:, :22] - xo.joints_55[:, :22]).abs().max().item() < 1e-9


# ------------------------------------------------------------------------------------------- file reading


def test_finds_release_names_and_files(root: Path, tmp_path: Path, arrays: dict) -> None:
    release = tmp_path / "models"
    release.mkdir()
    shutil.copy(root / "smpl" / "SMPL_MALE.pkl", release / "basicmodel_m_lbs_10_207_0_v1.0.0.pkl")
    shutil.copy(root / "smpl" / "SMPL_NEUTRAL.pkl", release / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
    assert find_smpl_file(release, "male").name == "basicmodel_m_lbs_10_207_0_v1.0.0.pkl"
    assert find_smpl_file(release, "NEUTRAL").name == "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    with pytest.raises(BodyModelFileError, match="no SMPL female model found"):
        find_smpl_file(release, "female")
    # .npz preferred over .pkl; the smpl/ folder, the root and a file path all work.
    assert find_smpl_file(root, "female").name == "SMPL_FEMALE.npz"
    assert find_smpl_file(root / "smpl", "female").name == "SMPL_FEMALE.npz"
    assert find_smpl_file(root / "smplx", "female") == root / "smpl" / "SMPL_FEMALE.npz"
    from_pkl = load_smpl_arrays(release / "basicmodel_m_lbs_10_207_0_v1.0.0.pkl")
    for key, value in arrays["male"].items():
        np.testing.assert_array_equal(from_pkl[key], value)
    model = SMPLModel.from_dir(release, "male")
    assert model.gender == "male" and model.num_betas == 10


def _chumpy_pickle() -> bytes:
    """A pickle referencing chumpy.ch.Ch, made with a stand-in module (chumpy itself is not needed)."""
    mod = types.ModuleType("chumpy.ch")

    class Ch:
        pass

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = Ch  # type: ignore[attr-defined]
    pkg = types.ModuleType("chumpy")
    pkg.ch = mod  # type: ignore[attr-defined]
    sys.modules.update({"chumpy": pkg, "chumpy.ch": mod})
    try:
        return pickle.dumps({"v_template": np.zeros((3, 3)), "shapedirs": Ch()}, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def test_chumpy_pickle_is_refused_with_conversion_hint(tmp_path: Path) -> None:
    path = tmp_path / "smpl" / "SMPL_NEUTRAL.pkl"
    path.parent.mkdir()
    path.write_bytes(_chumpy_pickle())
    with pytest.raises(UnsafePickleError) as err:
        load_smpl_arrays(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "chumpy" in msg and "np.savez" in msg
    assert "chumpy" not in sys.modules


def test_sparse_j_regressor_pickle_is_read_as_data(root: Path, tmp_path: Path, arrays: dict) -> None:
    sparse = pytest.importorskip("scipy.sparse")
    a = {k: v for k, v in arrays["neutral"].items()}
    a["J_regressor"] = sparse.csc_matrix(a["J_regressor"])
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(a, protocol=2))
    got = load_smpl_arrays(tmp_path)
    np.testing.assert_array_equal(got["J_regressor"], arrays["neutral"]["J_regressor"])
    # Anything else that is not plain data is refused.
    a["J_regressor"] = types.SimpleNamespace(x=1)
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(a, protocol=2))
    with pytest.raises(UnsafePickleError, match="types.SimpleNamespace"):
        load_smpl_arrays(tmp_path)


def test_bad_files_name_the_file(root: Path, tmp_path: Path, arrays: dict) -> None:
    a = dict(arrays["neutral"])
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **{k: v for k, v in a.items() if k != "posedirs"})
    with pytest.raises(BodyModelFileError, match=r"SMPL_NEUTRAL\.npz: required array\(s\) posedirs missing"):
        load_smpl_arrays(tmp_path)
    a["J_regressor"] = np.array({"not": "an array"}, dtype=object)
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **a)
    with pytest.raises(BodyModelFileError, match="J_regressor' is stored as a pickled object"):
        load_smpl_arrays(tmp_path)
    a["J_regressor"] = arrays["neutral"]["J_regressor"][:, :100]
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **a)
    with pytest.raises(BodyModelFileError, match=r"'J_regressor' has shape \(24, 100\)"):
        load_smpl_arrays(tmp_path)
    with pytest.raises(BodyModelFileError, match="no SMPL male model found"):
        SMPLModel.from_dir(tmp_path / "nowhere", "male")
    with pytest.raises(ValueError, match="unknown gender"):
        SMPLModel.from_dir(root, "other")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_streamed_matrix_pickle_equals_numpy_pickle(tmp_path: Path, dtype: type) -> None:
    from smplestx.synthetic.files import LazyArray, write_pickle
    from smplestx.synthetic.smpl_model import _selection_chunks

    src = np.array([4, 0, 6, 6, 1])
    lazy = LazyArray((5, 7), np.dtype(dtype), _selection_chunks(src, 7, np.dtype(dtype)))
    write_pickle(tmp_path / "m.pkl", {"matrix": lazy})
    expected = np.zeros((5, 7), dtype=dtype)
    expected[np.arange(5), src] = 1
    got = read_array_pickle(tmp_path / "m.pkl")["matrix"]
    assert got.dtype == dtype and np.array_equal(got, expected)
    with open(tmp_path / "m.pkl", "rb") as fh:
        data = fh.read()
    assert b"numpy._core" not in data  # numpy 1.x can read it too
    assert np.array_equal(pickle.loads(data)["matrix"], expected)
