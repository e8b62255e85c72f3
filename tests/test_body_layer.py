"""BodyModel against the smplx 0.1.28 package as oracle (vertices and all 144 joints), plus API behaviour."""

from __future__ import annotations

import copy
import io
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.body import (
    SMPLX_137,
    BodyModel,
    BodyModelFileError,
    BodyOutput,
    load_smplx_arrays,
)
from smplestx.body.joint_sets import CONTOUR_LANDMARKS_START
from smplestx.body.layer import SMPLX_VERTEX_JOINT_IDS
from smplestx.geometry.rotations import axis_angle_to_rotmat, axis_angle_to_rotmat_minus_identity


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """The body layer's exact Rodrigues (no reference epsilon)."""
    return axis_angle_to_rotmat(aa, eps=0.0)

PARITY_SMPLX = Path(__file__).resolve().parents[1].parent / "shared" / "parity" / "smplx"
GENDERS = ("neutral", "male", "female")
TOL = {torch.float64: 1e-6, torch.float32: 1e-5}

pytestmark = pytest.mark.skipif(
    not (PARITY_SMPLX / "SMPLX_NEUTRAL.npz").is_file(), reason=f"parity body model not found at {PARITY_SMPLX}"
)


@pytest.fixture(scope="module")
def neutral_arrays() -> dict[str, np.ndarray]:
    return load_smplx_arrays(PARITY_SMPLX, "neutral")


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder holding smplx/ with the neutral file and male / female files whose shape space really differs."""
    root = tmp_path_factory.mktemp("body_models")
    (root / "smplx").mkdir()
    (root / "smplx" / "SMPLX_NEUTRAL.npz").symlink_to(PARITY_SMPLX / "SMPLX_NEUTRAL.npz")
    with np.load(PARITY_SMPLX / "SMPLX_NEUTRAL.npz") as npz:
        base = {k: npz[k] for k in npz.files}
    rng = np.random.default_rng(3)
    for gender, scale in (("MALE", 1.15), ("FEMALE", 0.85)):
        arrays = dict(base)
        arrays["v_template"] = base["v_template"] * scale + rng.normal(0.0, 0.01, base["v_template"].shape)
        arrays["shapedirs"] = base["shapedirs"] * scale + rng.normal(0.0, 1e-3, base["shapedirs"].shape)
        np.savez(root / "smplx" / f"SMPLX_{gender}.npz", **arrays)
    return root


@pytest.fixture(scope="module")
def gender_arrays(model_root: Path) -> dict[str, dict[str, np.ndarray]]:
    """Arrays of the three model files, read once (building a layer from arrays is cheap)."""
    return {g: load_smplx_arrays(model_root, g) for g in GENDERS}


_ORACLES: dict[tuple, torch.nn.Module] = {}


def oracle(root: Path, gender: str, dtype: torch.dtype, **kwargs: object) -> torch.nn.Module:
    smplx = pytest.importorskip("smplx")
    key = (str(root), gender, dtype, tuple(sorted(kwargs.items())))
    if key not in _ORACLES:
        opts = dict(use_pca=False, use_face_contour=True, num_betas=10, num_expression_coeffs=10, flat_hand_mean=False)
        opts.update(kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _ORACLES[key] = smplx.create(str(root), "smplx", gender=gender, dtype=dtype, **opts)
    return _ORACLES[key]


def random_params(batch: int, dtype: torch.dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    params = {
        "global_orient": randn(batch, 3, scale=0.5),
        "body_pose": randn(batch, 63, scale=0.5),
        "left_hand_pose": randn(batch, 45, scale=0.5),
        "right_hand_pose": randn(batch, 45, scale=0.5),
        "jaw_pose": randn(batch, 3, scale=0.5),
        "leye_pose": randn(batch, 3, scale=0.5),
        "reye_pose": randn(batch, 3, scale=0.5),
        "betas": randn(batch, 10),
        "expression": randn(batch, 10),
        "transl": randn(batch, 3),
    }
    # Large neck yaw (body joint 12 = body_pose entry 11, y component) to reach many contour bins on both sides.
    params["body_pose"][:, 11 * 3 + 1] = torch.linspace(-1.4, 1.4, batch, dtype=torch.float64).to(dtype)
    return params


def neck_only_params(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Pure neck yaw rotations: hits positive, mirrored (negative) and clamped (< -39 degrees) contour bins."""
    yaw = torch.tensor([-1.2, -0.69, -0.3, -0.01, 0.0, 0.2, 0.6, 1.0], dtype=dtype)
    body = torch.zeros(len(yaw), 63, dtype=dtype)
    body[:, 11 * 3 + 1] = yaw
    g = torch.Generator().manual_seed(5)
    return {"body_pose": body, "betas": torch.randn(len(yaw), 10, generator=g).to(dtype)}


def max_err(a: BodyOutput, b: object) -> tuple[float, float]:
    return (a.vertices - b.vertices).abs().max().item(), (a.joints - b.joints).abs().max().item()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("gender", GENDERS)
def test_matches_smplx_oracle(
    model_root: Path, gender_arrays: dict[str, dict[str, np.ndarray]], gender: str, dtype: torch.dtype
) -> None:
    ref = oracle(model_root, gender, dtype)
    ours = BodyModel(gender_arrays[gender], dtype=dtype, gender=gender)
    for params in (random_params(7, dtype, seed=GENDERS.index(gender)), neck_only_params(dtype)):
        with torch.no_grad():
            out = ours(**params)
            expected = ref(**{**{k: torch.zeros_like(v) for k, v in random_params(len(params["betas"]), dtype).items()},
                              **params})
        assert out.vertices.shape == (len(params["betas"]), 10475, 3)
        assert out.joints.shape == (len(params["betas"]), 144, 3)
        assert out.vertices.dtype == dtype and out.joints.dtype == dtype
        dv, dj = max_err(out, expected)
        assert dv < TOL[dtype] and dj < TOL[dtype], (dv, dj)


def test_genders_differ(model_root: Path) -> None:
    # from_dir picks the file of the requested gender.
    outs = [BodyModel.from_dir(model_root, g)(betas=torch.ones(1, 10)).vertices for g in GENDERS]
    assert (outs[0] - outs[1]).abs().max() > 1e-3 and (outs[1] - outs[2]).abs().max() > 1e-3


def test_contour_bins_cover_both_sides(neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays, dtype=torch.float64)
    yaw = neck_only_params(torch.float64)["body_pose"][:, 11 * 3 + 1]
    zeros = torch.zeros_like(yaw)
    bins = model._yaw_bins(axis_angle_to_matrix(torch.stack([zeros, yaw, zeros], 1)))
    # -yaw in whole degrees, clamped at 39; negative values map to 39 - d, below -39 to 78.
    assert bins.tolist() == [39, 39, 17, 1, 0, 50, 73, 78]


def test_face_contour_bins_are_the_forward_pass_choice(neutral_arrays: dict[str, np.ndarray]) -> None:
    """face_contour_bins says which contour vertices the forward pass looked up, for random whole-body poses."""
    model = BodyModel(neutral_arrays)
    gen = torch.Generator().manual_seed(0)
    go, bp = torch.randn(128, 3, generator=gen) * 0.8, torch.randn(128, 21, 3, generator=gen) * 0.3
    bins = model.face_contour_bins(go, bp)
    assert bins.unique().numel() > 20  # the poses really span many head angles
    out = model(global_orient=go, body_pose=bp)
    ids, bary = model._dyn_lmk_vertex_ids[bins], model.dynamic_lmk_bary_coords[bins]
    looked_up = (out.vertices[torch.arange(128)[:, None, None], ids] * bary.unsqueeze(-1)).sum(dim=2)
    torch.testing.assert_close(looked_up, out.joints[:, CONTOUR_LANDMARKS_START:], rtol=0, atol=1e-6)


def test_pose2rot_false_matches_axis_angle(neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays, dtype=torch.float64)
    params = random_params(5, torch.float64, seed=11)
    # Rotation matrices are used as they are, so the hand mean is folded in by the caller.
    mats = {
        "global_orient": axis_angle_to_matrix(params["global_orient"]).unsqueeze(1),
        "body_pose": axis_angle_to_matrix(params["body_pose"].view(5, 21, 3)),
        "jaw_pose": axis_angle_to_matrix(params["jaw_pose"]).view(5, 1, 3, 3),
        "leye_pose": axis_angle_to_matrix(params["leye_pose"]).view(5, 1, 3, 3),
        "reye_pose": axis_angle_to_matrix(params["reye_pose"]).view(5, 1, 3, 3),
        "left_hand_pose": axis_angle_to_matrix((params["left_hand_pose"] + model.left_hand_mean).view(5, 15, 3)),
        "right_hand_pose": axis_angle_to_matrix((params["right_hand_pose"] + model.right_hand_mean).view(5, 15, 3)),
    }
    rest = {k: params[k] for k in ("betas", "expression", "transl")}
    with torch.no_grad():
        a = model(**params)
        b = model(**mats, **rest, pose2rot=False)
    assert max(max_err(a, b)) < 1e-10


def test_pose2rot_false_matches_smplx_layer(model_root: Path, neutral_arrays: dict[str, np.ndarray]) -> None:
    smplx = pytest.importorskip("smplx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = smplx.build_layer(str(model_root), "smplx", gender="neutral", use_pca=False, use_face_contour=True,
                                num_betas=10, num_expression_coeffs=10, dtype=torch.float64)
    model = BodyModel(neutral_arrays, dtype=torch.float64)
    params = random_params(4, torch.float64, seed=12)
    mats = {
        "global_orient": axis_angle_to_matrix(params["global_orient"]).view(4, 1, 3, 3),
        "body_pose": axis_angle_to_matrix(params["body_pose"].view(4, 21, 3)),
        "left_hand_pose": axis_angle_to_matrix(params["left_hand_pose"].view(4, 15, 3)),
        "right_hand_pose": axis_angle_to_matrix(params["right_hand_pose"].view(4, 15, 3)),
        "jaw_pose": axis_angle_to_matrix(params["jaw_pose"]).view(4, 1, 3, 3),
    }
    rest = {k: params[k] for k in ("betas", "expression", "transl")}
    with torch.no_grad():
        a = model(**mats, **rest, pose2rot=False)
        b = ref(**mats, **rest, pose2rot=False)
    assert max(max_err(a, b)) < 1e-6


def test_zero_inputs_match_oracle(model_root: Path, neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays)
    with torch.no_grad():
        a = model()
        b = oracle(model_root, "neutral", torch.float32)()
    assert a.vertices.shape == (1, 10475, 3)
    assert max(max_err(a, b)) < 1e-5


def test_flat_hand_mean_matches_oracle(model_root: Path, neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays, dtype=torch.float64, flat_hand_mean=True)
    ref = oracle(model_root, "neutral", torch.float64, flat_hand_mean=True)
    params = random_params(3, torch.float64, seed=4)
    with torch.no_grad():
        assert max(max_err(model(**params), ref(**params))) < 1e-6
    assert torch.count_nonzero(model.left_hand_mean) == 0


def test_dtype_float64_and_to(neutral_arrays: dict[str, np.ndarray]) -> None:
    m64 = BodyModel(neutral_arrays, dtype=torch.float64)
    m32 = BodyModel(neutral_arrays)
    assert m32.dtype == torch.float32 and m64.dtype == torch.float64
    params = random_params(2, torch.float64, seed=8)
    moved = m32.to(torch.float64)
    assert moved._shape_basis.dtype == torch.float64 and moved.parents.dtype == torch.int64
    with torch.no_grad():
        a = m64(**params)
        b = moved(**params)
    assert a.vertices.dtype == torch.float64 and b.vertices.dtype == torch.float64
    assert max(max_err(a, b)) < 1e-5
    # float32 inputs into a float64 model are cast to the model dtype.
    assert m64(betas=torch.zeros(1, 10, dtype=torch.float32)).vertices.dtype == torch.float64


def test_gradients_flow(neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays, dtype=torch.float64)
    params = {k: v.clone().requires_grad_(True) for k, v in random_params(2, torch.float64, seed=9).items()}
    zero_pose = torch.zeros(2, 63, dtype=torch.float64, requires_grad=True)
    out = model(**{**params, "body_pose": zero_pose})
    (out.vertices.square().sum() + out.joints.square().sum()).backward()
    for name, p in list(params.items()) + [("body_pose@0", zero_pose)]:
        if name == "body_pose":
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_rodrigues_is_exact_and_differentiable_at_zero() -> None:
    aa = torch.tensor([[0.0, 0.0, 0.0], [1e-7, -2e-7, 3e-7], [0.3, -0.2, 0.9], [0.0, 3.0, 0.0]], dtype=torch.float64)
    rot = axis_angle_to_matrix(aa)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(rot @ rot.transpose(1, 2), eye.expand(4, 3, 3), atol=1e-12)
    assert torch.allclose(rot[0], eye)
    c, s = np.cos(3.0), np.sin(3.0)
    assert torch.allclose(rot[3], torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64), atol=1e-12)
    assert torch.autograd.gradcheck(axis_angle_to_rotmat_minus_identity, (aa.clone().requires_grad_(True),))


def test_smplx_rodrigues_agrees() -> None:
    lbs = pytest.importorskip("smplx.lbs")
    aa = torch.randn(100, 3, dtype=torch.float64) * 2
    aa[0] = 0
    assert torch.allclose(axis_angle_to_matrix(aa), lbs.batch_rodrigues(aa), atol=1e-7)


def test_autocast_keeps_module_dtype(neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays)
    params = random_params(2, torch.float32, seed=2)
    with torch.no_grad():
        ref = model(**params)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(**{k: v.to(torch.bfloat16) if k == "betas" else v for k, v in params.items()})
    assert out.vertices.dtype == torch.float32
    # Only the bfloat16 rounding of the betas input differs.
    assert (out.vertices - ref.vertices).abs().max() < 5e-3
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**params)
    assert max(max_err(out, ref)) < 1e-6


def test_select_137(neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays)
    with torch.no_grad():
        out = model(**random_params(3, torch.float32, seed=6))
    j137 = out.select(SMPLX_137)
    assert j137.shape == (3, 137, 3)
    assert torch.equal(j137, out.joints[:, list(SMPLX_137.index_in_144)])
    names = SMPLX_137.names
    assert torch.equal(j137[:, names.index("L_Wrist")], out.joints_55[:, 20])
    assert torch.equal(j137[:, names.index("Neck")], out.joints_55[:, 12])
    verts = out.vertices
    for name, key in (("Nose", "nose"), ("L_Eye", "leye"), ("R_Ear", "rear"), ("L_Big_toe", "LBigToe"),
                      ("L_Thumb_4", "lthumb"), ("R_Pinky_4", "rpinky"), ("R_Index_4", "rindex")):
        assert torch.equal(j137[:, names.index(name)], verts[:, SMPLX_VERTEX_JOINT_IDS[key]]), name
    assert torch.equal(j137[:, names.index("Face_1")], out.joints_55[:, 22])  # jaw


def test_batch_inference_and_errors(neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays, dtype=torch.float64)
    pose = torch.randn(3, 21, 3, dtype=torch.float64) * 0.3
    betas = torch.randn(1, 10, dtype=torch.float64)
    with torch.no_grad():
        a = model(body_pose=pose, betas=betas)
        b = model(body_pose=pose.reshape(3, 63), betas=betas.expand(3, 10))
        c = model(body_pose=pose, betas=betas[:, :4].contiguous())  # fewer betas are zero-padded
        d = model(body_pose=pose, betas=torch.cat([betas[:, :4], torch.zeros(1, 6, dtype=torch.float64)], 1))
    assert a.vertices.shape[0] == 3 and max(max_err(a, b)) == 0
    assert max(max_err(c, d)) < 1e-12
    with pytest.raises(ValueError, match="batch"):
        model(body_pose=pose, betas=torch.zeros(2, 10))
    with pytest.raises(ValueError, match="body_pose"):
        model(body_pose=torch.zeros(3, 60))
    with pytest.raises(ValueError, match="betas"):
        model(betas=torch.zeros(1, 11))
    with pytest.raises(ValueError, match="rotation matrices"):
        model(global_orient=torch.zeros(2, 3), pose2rot=False)


def test_blocked_vertex_stage_matches_unblocked(neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays, dtype=torch.float64)
    params = random_params(7, torch.float64, seed=21)
    with torch.no_grad():
        model.chunk_size = 3  # blocks of 3, 3, 1
        a = model(**params)
        model.chunk_size = None
        b = model(**params)
    assert max(max_err(a, b)) < 1e-12


def test_face_contour_off_and_attributes(neutral_arrays: dict[str, np.ndarray]) -> None:
    full = BodyModel(neutral_arrays)
    plain = BodyModel(neutral_arrays, face_contour=False)
    assert full.num_joints == 144 and plain.num_joints == 127 and full.num_vertices == 10475
    params = random_params(2, torch.float32, seed=1)
    with torch.no_grad():
        assert torch.equal(plain(**params).joints, full(**params).joints[:, :127])
    assert full.faces_np.dtype == np.int64 and full.faces_np.shape == (20908, 3)
    assert full.faces.dtype == torch.int64 and full.parents.dtype == torch.int64 and full.parents[0] == -1
    assert full.extra_joint_vertex_ids.tolist() == list(SMPLX_VERTEX_JOINT_IDS.values())
    assert full.posedirs.shape == (486, 3, 10475)


def test_state_dict_roundtrip_refreshes_derived(gender_arrays: dict[str, dict[str, np.ndarray]]) -> None:
    neutral = BodyModel(gender_arrays["neutral"], dtype=torch.float64)
    male = BodyModel(gender_arrays["male"], dtype=torch.float64)
    params = random_params(2, torch.float64, seed=3)
    neutral.load_state_dict(male.state_dict())
    with torch.no_grad():
        assert max(max_err(neutral(**params), male(**params))) < 1e-12
    assert not any(k.startswith("_") for k in male.state_dict())


def test_model_copies_and_validates_arrays(neutral_arrays: dict[str, np.ndarray]) -> None:
    model = BodyModel(neutral_arrays)
    clone = copy.deepcopy(model)
    restored = pickle.loads(pickle.dumps(model))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    params = random_params(2, torch.float32, seed=13)
    with torch.no_grad():
        ref = model(**params)
        assert max(max_err(clone(**params), ref)) == 0 and max(max_err(restored(**params), ref)) == 0
    with pytest.raises(BodyModelFileError, match="weights"):
        BodyModel({**neutral_arrays, "weights": np.zeros((3, 55))})
    with pytest.raises(BodyModelFileError, match="posedirs"):
        BodyModel({k: v for k, v in neutral_arrays.items() if k != "posedirs"})
