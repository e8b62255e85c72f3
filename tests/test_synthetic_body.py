"""Tests of the license-free synthetic SMPL-X body model (structure, ids, anatomy, blend shapes, smplx loading)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from smplestx.synthetic.skeleton import NUM_FACES, NUM_VERTICES, PARENTS, VERTEX_IDS
from smplestx.synthetic.smplx_model import make_synthetic_arrays, write_synthetic_body

GENDERS = ("NEUTRAL", "MALE", "FEMALE")
SHAPES = {
    "v_template": ((10475, 3), np.float64),
    "f": ((20908, 3), np.int32),
    "J_regressor": ((55, 10475), np.float64),
    "weights": ((10475, 55), np.float64),
    "kintree_table": ((2, 55), np.int64),
    "shapedirs": ((10475, 3, 20), np.float64),
    "posedirs": ((10475, 3, 486), np.float64),
    "hands_componentsl": ((45, 45), np.float64),
    "hands_componentsr": ((45, 45), np.float64),
    "hands_meanl": ((45,), np.float64),
    "hands_meanr": ((45,), np.float64),
    "lmk_faces_idx": ((51,), np.int64),
    "lmk_bary_coords": ((51, 3), np.float64),
    "dynamic_lmk_faces_idx": ((79, 17), np.int64),
    "dynamic_lmk_bary_coords": ((79, 17, 3), np.float64),
}
LOWER_LIP, UPPER_LIP = 57 - 17, 51 - 17  # iBUG points 57 / 51 among the 51 static landmarks


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds plain numpy arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle API
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        return super().find_class(module, name)


def _restricted_load(path: Path):  # noqa: ANN202
    with open(path, "rb") as f:
        return _ArrayUnpickler(f, encoding="latin1").load()


def _rodrigues(aa: np.ndarray) -> np.ndarray:
    theta = np.linalg.norm(aa, axis=1, keepdims=True) + 1e-12
    k = aa / theta
    kx = np.zeros((len(aa), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx[:, 1, 0], kx[:, 2, 0], kx[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    s, c = np.sin(theta)[:, :, None], np.cos(theta)[:, :, None]
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def _pose(a: dict, pose: np.ndarray | None = None, betas: np.ndarray | None = None,
          expr: np.ndarray | None = None) -> np.ndarray:
    """Reference linear blend skinning in numpy (full 55-joint axis-angle pose, no hand mean)."""
    pose = np.zeros((55, 3)) if pose is None else pose
    coeffs = np.concatenate([np.zeros(10) if betas is None else betas, np.zeros(10) if expr is None else expr])
    v = a["v_template"] + a["shapedirs"] @ coeffs
    j = a["J_regressor"] @ v
    rots = _rodrigues(pose)
    v = v + (a["posedirs"].reshape(-1, 486) @ (rots[1:] - np.eye(3)).reshape(-1)).reshape(-1, 3)
    glob = np.zeros((55, 4, 4))
    for i in range(55):
        local = np.eye(4)
        local[:3, :3] = rots[i]
        local[:3, 3] = j[i] - (j[PARENTS[i]] if i else 0)
        glob[i] = local if i == 0 else glob[PARENTS[i]] @ local
    glob[:, :3, 3] -= np.einsum("nij,nj->ni", glob[:, :3, :3], j)
    t = np.einsum("vj,jab->vab", a["weights"], glob)
    return np.einsum("vab,vb->va", t[:, :3, :3], v) + t[:, :3, 3]


def _landmarks(a: dict, verts: np.ndarray) -> np.ndarray:
    tri = verts[a["f"][a["lmk_faces_idx"]]]
    return np.einsum("nk,nkj->nj", a["lmk_bary_coords"], tri)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_body(tmp_path_factory.mktemp("synthetic"), seed=0)


@pytest.fixture(scope="module")
def model(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "SMPLX_NEUTRAL.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def ids(folder: Path) -> dict[str, np.ndarray]:
    mano = _restricted_load(folder / "MANO_SMPLX_vertex_ids.pkl")
    flame = np.load(folder / "SMPL-X__FLAME_vertex_ids.npy", allow_pickle=False)
    return {"flame": flame, "left": mano["left_hand"], "right": mano["right_hand"]}


def test_folder_layout_and_arrays(folder: Path) -> None:
    assert folder.name == "smplx"
    names = {p.name for p in folder.iterdir()}
    assert names == {f"SMPLX_{g}.npz" for g in GENDERS} | {
        "SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy"}
    assert sum(p.stat().st_size for p in folder.iterdir()) < 10e6
    for g in GENDERS:
        with np.load(folder / f"SMPLX_{g}.npz", allow_pickle=False) as z:
            assert set(z.files) == set(SHAPES)
            for key, (shape, dtype) in SHAPES.items():
                assert z[key].shape == shape, key
                assert z[key].dtype == dtype, key
                if z[key].dtype.kind == "f":
                    assert np.isfinite(z[key]).all(), key


def test_evaluation_assets_are_plain_array_pickles(folder: Path, ids: dict[str, np.ndarray]) -> None:
    for name in ("SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl"):
        raw = (folder / name).read_bytes()
        assert raw[:2] == b"\x80\x02"  # protocol 2
        assert b"numpy._core" not in raw  # the numpy.core alias keeps them readable by numpy 1.x
    j14 = _restricted_load(folder / "SMPLX_to_J14.pkl")
    with open(folder / "SMPLX_to_J14.pkl", "rb") as f:
        j14_latin1 = pickle.load(f, encoding="latin1")
    with open(folder / "MANO_SMPLX_vertex_ids.pkl", "rb") as f:
        mano = pickle.load(f, encoding="latin1")
    np.testing.assert_array_equal(j14, j14_latin1)
    assert isinstance(j14, np.ndarray) and j14.shape == (14, NUM_VERTICES) and j14.dtype == np.float32
    assert (j14 >= 0).all()
    np.testing.assert_allclose(j14.sum(1), 1.0, atol=1e-5)
    assert set(mano) == {"left_hand", "right_hand"}
    for key in ("left", "right"):
        assert ids[key].dtype == np.int64 and ids[key].shape == (778,)
        assert len(np.unique(ids[key])) == 778
    assert ids["flame"].dtype == np.int64 and ids["flame"].shape == (5023,)
    assert len(np.unique(ids["flame"])) == 5023


def test_same_seed_same_bytes_other_seed_differs(folder: Path, tmp_path: Path) -> None:
    again = write_synthetic_body(tmp_path, seed=0)
    for p in folder.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name
    other = make_synthetic_arrays(seed=1)
    with np.load(folder / "SMPLX_NEUTRAL.npz") as z:
        assert not np.array_equal(other["hands_componentsl"], z["hands_componentsl"])
        assert not np.array_equal(other["v_template"], z["v_template"])
        np.testing.assert_array_equal(other["f"], z["f"])  # the topology does not depend on the seed


def test_regressor_weights_and_tree(model: dict[str, np.ndarray]) -> None:
    for key in ("J_regressor", "weights"):
        assert (model[key] >= 0).all(), key
    np.testing.assert_allclose(model["J_regressor"].sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(model["weights"].sum(1), 1.0, atol=1e-12)
    kt = model["kintree_table"]
    assert kt[0, 0] == 4294967295
    np.testing.assert_array_equal(kt[0, 1:], PARENTS[1:])
    np.testing.assert_array_equal(kt[1], np.arange(55))
    for key in ("hands_componentsl", "hands_componentsr"):
        np.testing.assert_allclose(model[key] @ model[key].T, np.eye(45), atol=1e-10)
    curl = model["hands_meanl"].reshape(15, 3)
    angles = np.linalg.norm(curl, axis=1)
    assert ((angles > 0.05) & (angles < 0.4)).all()
    assert (curl[:12, 2] < 0).all()  # left fingers curl towards the palm: rotation about -z


def test_mesh_topology(model: dict[str, np.ndarray]) -> None:
    v, f = model["v_template"], model["f"].astype(np.int64)
    assert f.shape == (NUM_FACES, 3) and f.min() == 0 and f.max() == NUM_VERTICES - 1
    assert len(np.unique(f)) == NUM_VERTICES  # every vertex is used
    tri = v[f]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    assert area.min() > 1e-7  # no degenerate faces
    assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 2] != f[:, 0]).all()
    # consistent orientation: every directed edge once; all but the mouth slit have their reverse
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = e[:, 0] * NUM_VERTICES + e[:, 1]
    assert len(np.unique(key)) == len(key)
    boundary = ~np.isin(key, e[:, 1] * NUM_VERTICES + e[:, 0])
    assert boundary.sum() == 28
    assert np.all(v[e[boundary].ravel(), 1] > 0.25)  # the slit is on the face
    # outward: the signed volume of the whole surface is positive and about that of a person
    vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert 0.04 < vol < 0.1


def test_special_vertices_and_id_sets(model: dict[str, np.ndarray], ids: dict[str, np.ndarray]) -> None:
    v = model["v_template"]
    flame, left, right = set(ids["flame"].tolist()), ids["left"], ids["right"]
    head_top = v[:, 1].max()
    for name in ("nose", "leye", "reye", "lear", "rear"):
        assert VERTEX_IDS[name] in flame, name
        assert v[VERTEX_IDS[name], 1] > head_top - 0.2
    for name in ("lthumb", "lindex", "lmiddle", "lring", "lpinky"):
        assert VERTEX_IDS[name] in set(left.tolist()), name
    for name in ("rthumb", "rindex", "rmiddle", "rring", "rpinky"):
        assert VERTEX_IDS[name] in set(right.tolist()), name
    assert (v[left, 0] > 0.6).all() and (v[right, 0] < -0.6).all()
    assert not flame & set(left.tolist()) and not flame & set(right.tolist())
    assert (v[ids["flame"], 1] > 0.2).all()
    nose, leye, reye = v[VERTEX_IDS["nose"]], v[VERTEX_IDS["leye"]], v[VERTEX_IDS["reye"]]
    assert nose[2] == v[ids["flame"], 2].max()  # tip of the nose is the front-most face point
    assert leye[0] > 0.02 and reye[0] < -0.02 and leye[1] > nose[1] and leye[2] > 0.05
    assert v[VERTEX_IDS["lear"], 0] > 0.07 and v[VERTEX_IDS["rear"], 0] < -0.07
    for side, sign in (("L", 1.0), ("R", -1.0)):
        big, small, heel = (v[VERTEX_IDS[f"{side}{n}"]] for n in ("BigToe", "SmallToe", "Heel"))
        assert big[1] < -1.1 and small[1] < -1.1 and heel[1] < -1.1
        assert big[2] > small[2] > heel[2] + 0.15  # toes in front, heel at the back
        assert sign * big[0] < sign * small[0]  # big toe on the inner side
    tips = {n: v[VERTEX_IDS[f"l{n}"]] for n in ("thumb", "index", "middle", "ring", "pinky")}
    assert tips["middle"][0] > tips["index"][0] and tips["middle"][0] > tips["pinky"][0]
    assert tips["thumb"][2] > tips["index"][2] > tips["middle"][2] > tips["ring"][2] > tips["pinky"][2]


def test_landmarks(model: dict[str, np.ndarray]) -> None:
    v, f = model["v_template"], model["f"]
    for fk, bk in (("lmk_faces_idx", "lmk_bary_coords"), ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")):
        assert (model[fk] >= 0).all() and (model[fk] < len(f)).all()
        assert (model[bk] >= -1e-12).all()
        np.testing.assert_allclose(model[bk].sum(-1), 1.0, atol=1e-9)
    lm = _landmarks(model, v)
    assert (lm[:, 2] > 0.05).all()  # on the front of the face
    brows, nose_tip, eyes, mouth = lm[:10], lm[30 - 17], lm[19:31], lm[31:]
    assert brows[:, 1].min() > eyes[:, 1].max() > nose_tip[1] > mouth[:, 1].max()
    assert (lm[:5, 0] < 0).all() and (lm[5:10, 0] > 0).all()  # 17..21 on the person's right (-x)
    contour = np.einsum("bnk,bnkj->bnj", model["dynamic_lmk_bary_coords"], v[f[model["dynamic_lmk_faces_idx"]]])
    assert (contour[:, :, 1] < eyes[:, 1].min() - 0.02).all()  # along the jaw line
    assert contour[0, 8, 1] < mouth[:, 1].min() - 0.02  # the frontal middle point is on the chin
    assert contour[0, 0, 0] < 0 < contour[0, 16, 0]
    np.testing.assert_allclose(contour[0, 8, 0], 0.0, atol=0.004)  # frontal chin point in the middle
    assert not np.array_equal(model["dynamic_lmk_faces_idx"][0], model["dynamic_lmk_faces_idx"][39])


def test_rest_anatomy(model: dict[str, np.ndarray]) -> None:
    v = model["v_template"]
    j = model["J_regressor"] @ v
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.55 < height < 1.9
    top = v[:, 1].max()
    assert top > j[15, 1] > j[12, 1] > j[0, 1] > j[4, 1] > j[7, 1] > v[:, 1].min()
    assert -0.45 < j[0, 1] < -0.25
    assert 0.6 < j[20, 0] < 0.9 and -0.9 < j[21, 0] < -0.6  # wrists in T-pose
    assert abs(j[20, 1] - j[16, 1]) < 0.1  # arms horizontal
    for left, right in ((1, 2), (4, 5), (7, 8), (16, 17), (18, 19), (20, 21), (23, 24), (28, 43)):
        np.testing.assert_allclose(j[left] * (-1, 1, 1), j[right], atol=1e-9)
        assert j[left, 0] > 0
    # every joint sits inside its part: close to the centroid of the vertices it is regressed from
    for k in range(55):
        row = model["J_regressor"][k]
        used = row > 0
        assert np.linalg.norm(v[used].mean(0) - j[k]) < 0.03, k
    # each finger has three joints along it and its tip beyond
    tips = (4933, 5058, 5286, 5169, 5361)
    for fi, tip in enumerate(tips):
        p = j[25 + 3 * fi: 28 + 3 * fi]
        seg = np.diff(np.vstack([p, v[tip]]), axis=0)
        assert (np.linalg.norm(seg, axis=1) > 0.015).all()
        assert (np.einsum("ij,ij->i", seg[:-1], seg[1:]) > 0).all()  # no zig-zag


def test_skinning_follows_the_parts(model: dict[str, np.ndarray], ids: dict[str, np.ndarray]) -> None:
    w = model["weights"]
    main = np.argmax(w, axis=1)
    assert set(main[ids["left"]]) <= {20} | set(range(25, 40))
    assert set(main[ids["right"]]) <= {21} | set(range(40, 55))
    for tip, joint in ((4933, 27), (5058, 30), (5286, 33), (5169, 36), (5361, 39), (7669, 42), (8079, 54)):
        assert main[tip] == joint
    assert main[VERTEX_IDS["leye"]] == 23 and main[VERTEX_IDS["reye"]] == 24
    assert main[VERTEX_IDS["nose"]] == 15
    assert main[VERTEX_IDS["LHeel"]] in (7, 10) and main[VERTEX_IDS["RBigToe"]] == 11
    assert ((w > 0).sum(1) <= 4).all()


def test_shape_blend_shapes(model: dict[str, np.ndarray]) -> None:
    v0 = model["v_template"]
    sd = model["shapedirs"]
    tall = v0 + sd[:, :, :10] @ np.array([2.0] + [0.0] * 9)
    h0, h1 = np.ptp(v0[:, 1]), np.ptp(tall[:, 1])
    assert 0.04 < h1 - h0 < 0.2
    heavy = v0 + sd[:, :, :10] @ np.array([0.0, 2.0] + [0.0] * 8)
    waist = (np.abs(v0[:, 1] + 0.2) < 0.03) & (np.abs(v0[:, 0]) < 0.2)
    girth0 = np.linalg.norm(v0[waist][:, [0, 2]], axis=1).mean()
    girth1 = np.linalg.norm(heavy[waist][:, [0, 2]], axis=1).mean()
    assert 0.02 < girth1 - girth0 < 0.1
    per_unit = np.linalg.norm(sd[:, :, :10], axis=1).max(0)
    assert (per_unit > 0.005).all() and (per_unit < 0.06).all()  # around a centimetre per unit


def test_jaw_and_expressions(model: dict[str, np.ndarray], ids: dict[str, np.ndarray]) -> None:
    rest = _landmarks(model, model["v_template"])
    pose = np.zeros((55, 3))
    pose[22] = (0.3, 0.0, 0.0)
    opened = _landmarks(model, _pose(model, pose))
    assert rest[LOWER_LIP, 1] - opened[LOWER_LIP, 1] > 0.01
    assert abs(rest[UPPER_LIP, 1] - opened[UPPER_LIP, 1]) < 0.001
    expr = model["shapedirs"][:, :, 10:]
    moving = np.nonzero(np.abs(expr).max(axis=(1, 2)) > 0)[0]
    assert set(moving.tolist()) <= set(ids["flame"].tolist())
    assert (np.abs(expr).max(axis=(0, 1)) > 0.001).all()  # all ten expressions do something
    mouth_open = _landmarks(model, model["v_template"] + 2.0 * expr[:, :, 0])
    assert rest[LOWER_LIP, 1] - mouth_open[LOWER_LIP, 1] > 0.005


def test_posing_stays_in_one_piece(model: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(3)
    pose = rng.normal(0.0, 0.35, (55, 3))
    pose[0] = 0.0
    pose[22] = (0.4, 0.0, 0.0)  # jaw open
    pose[25:] *= 0.5  # fingers: a moderate random grip
    rest = model["v_template"]
    posed = _pose(model, pose, betas=rng.normal(0, 1, 10), expr=rng.normal(0, 1, 10))
    assert np.isfinite(posed).all()
    f = model["f"]
    # edges stretch at most a few times (no exploded vertices)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    r0 = np.linalg.norm(rest[e[:, 0]] - rest[e[:, 1]], axis=1)
    r1 = np.linalg.norm(posed[e[:, 0]] - posed[e[:, 1]], axis=1)
    assert np.percentile(r1 / r0, 99.9) < 3.0
    assert np.ptp(posed, axis=0).max() < 2.5


def test_genders_differ_plausibly(folder: Path) -> None:
    tpl = {}
    for g in GENDERS:
        with np.load(folder / f"SMPLX_{g}.npz") as z:
            tpl[g] = (z["v_template"], z["J_regressor"])
            np.testing.assert_array_equal(z["f"], np.load(folder / "SMPLX_NEUTRAL.npz")["f"])
    height = {g: np.ptp(v[:, 1]) for g, (v, _) in tpl.items()}
    assert height["MALE"] > height["NEUTRAL"] > height["FEMALE"]
    shoulders = {g: (r @ v)[16, 0] - (r @ v)[17, 0] for g, (v, r) in tpl.items()}
    hips = {g: (r @ v)[1, 0] - (r @ v)[2, 0] for g, (v, r) in tpl.items()}
    assert shoulders["MALE"] > shoulders["FEMALE"]
    assert hips["FEMALE"] > hips["MALE"]


def test_loads_with_smplx(folder: Path) -> None:
    smplx = pytest.importorskip("smplx")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    for g in GENDERS:
        layer = smplx.create(str(folder.parent), "smplx", gender=g.lower(), use_pca=False, use_face_contour=True,
                             batch_size=2)
        out = layer(
            betas=torch.randn(2, 10), expression=torch.randn(2, 10), global_orient=0.3 * torch.randn(2, 3),
            body_pose=0.3 * torch.randn(2, 63), jaw_pose=0.2 * torch.rand(2, 3),
            left_hand_pose=0.3 * torch.randn(2, 45), right_hand_pose=0.3 * torch.randn(2, 45), return_verts=True,
        )
        assert out.vertices.shape == (2, NUM_VERTICES, 3)
        assert out.joints.shape == (2, 144, 3)
        assert torch.isfinite(out.vertices).all() and torch.isfinite(out.joints).all()


def test_smplx_matches_reference_lbs(folder: Path, model: dict[str, np.ndarray]) -> None:
    smplx = pytest.importorskip("smplx")
    torch = pytest.importorskip("torch")
    layer = smplx.create(str(folder.parent), "smplx", gender="neutral", use_pca=False, use_face_contour=True,
                         flat_hand_mean=True, dtype=torch.float64)
    rng = np.random.default_rng(5)
    pose = rng.normal(0.0, 0.3, (55, 3))
    out = layer(global_orient=torch.tensor(pose[None, 0]), body_pose=torch.tensor(pose[None, 1:22].reshape(1, -1)),
                jaw_pose=torch.tensor(pose[None, 22]), leye_pose=torch.tensor(pose[None, 23]),
                reye_pose=torch.tensor(pose[None, 24]), left_hand_pose=torch.tensor(pose[None, 25:40].reshape(1, -1)),
                right_hand_pose=torch.tensor(pose[None, 40:].reshape(1, -1)))
    # smplx adds 1e-8 to every rotation angle: agreement to a micrometre
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), _pose(model, pose), atol=1e-6)
