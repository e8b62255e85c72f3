"""Synthetic HumanData set: real format, exact ground truth (params -> joints -> pixels), determinism."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from smplestx.body import BodyModel
from smplestx.data import HumanData
from smplestx.synthetic.dataset import write_synthetic_dataset
from smplestx.render import Renderer

SIZE = (320, 240)


@pytest.fixture(scope="module")
def body_dir(synthetic_body: Path) -> Path:
    return synthetic_body


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, body_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    return write_synthetic_dataset(out, 4, seed=3, body_models=body_dir, image_size=SIZE, genders=("neutral", "male"))


@pytest.fixture(scope="module")
def bodies(body_dir: Path) -> dict[str, BodyModel]:
    return {g: BodyModel.from_dir(body_dir, g, dtype=torch.float64) for g in ("neutral", "male")}


def test_layout_and_keys(dataset: Path) -> None:
    root = dataset.parent.parent
    assert dataset == root / "annotations" / "synthetic_train.npz"
    hd = HumanData.open(dataset).validate().require_smplx()
    n = len(hd)
    assert 4 <= n <= 8
    assert hd.keypoints_compressed and hd.config == "synthetic"
    for key in ("bbox_xywh", "lhand_bbox_xywh", "rhand_bbox_xywh", "face_bbox_xywh"):
        assert hd[key].shape == (n, 5) and hd[key].dtype == np.float32
    assert hd.keypoints("keypoints3d_smplx").shape == (n, 144, 4)
    assert hd.keypoints("keypoints2d_smplx").shape == (n, 144, 3)
    smplx = hd.smplx
    shapes = {"global_orient": (3,), "body_pose": (21, 3), "betas": (10,), "transl": (3,), "left_hand_pose": (15, 3),
              "right_hand_pose": (15, 3), "jaw_pose": (3,), "expression": (10,)}
    assert {k: v.shape[1:] for k, v in smplx.items()} == shapes
    meta = hd.meta
    assert set(meta["gender"]) <= {"neutral", "male"} and len(meta["gender"]) == n
    assert (np.asarray(meta["height"]) == SIZE[1]).all() and (np.asarray(meta["width"]) == SIZE[0]).all()
    assert meta["focal_length"].shape == (n, 2) and meta["principal_point"].shape == (n, 2)
    for rel in hd.image_path:
        img = cv2.imread(str(root / "images" / rel))
        assert img is not None and img.shape == (SIZE[1], SIZE[0], 3)


def test_projection_and_params_are_exact(dataset: Path, bodies: dict[str, BodyModel]) -> None:
    hd = HumanData.open(dataset)
    kp3d, kp2d = hd.keypoints("keypoints3d_smplx"), hd.keypoints("keypoints2d_smplx")
    focal, princpt = hd.meta["focal_length"], hd.meta["principal_point"]
    proj = kp3d[..., :2] / kp3d[..., 2:3] * focal[:, None] + princpt[:, None]
    np.testing.assert_allclose(proj, kp2d[..., :2], atol=2e-3)
    assert (kp3d[..., 3] == 1).all() and (kp2d[..., 2] == 1).all()
    genders = np.array(hd.meta["gender"])
    for gender in set(genders):
        rows = np.flatnonzero(genders == gender)
        params = {k: torch.from_numpy(np.array(v[rows])) for k, v in hd.smplx.items()}
        joints = bodies[gender](**params).joints.numpy()
        np.testing.assert_allclose(joints, kp3d[rows, :, :3], atol=2e-5)


def test_mannequin_inside_its_box(dataset: Path, bodies: dict[str, BodyModel]) -> None:
    hd = HumanData.open(dataset)
    renderer = Renderer(bodies["neutral"].faces_np)
    root = dataset.parent.parent
    for n in range(len(hd)):
        ins = hd.instance(n)
        params = {k: torch.from_numpy(np.asarray(v, dtype=np.float64))[None] for k, v in ins.smplx.items()}
        verts = bodies[ins.meta["gender"]](**params).vertices[0].numpy()
        frags = renderer.rasterize([verts], ins.meta["focal_length"], ins.meta["principal_point"], SIZE[1], SIZE[0])
        ys, xs = np.nonzero(frags.mask.numpy())
        assert len(xs) > 500  # the person is visible
        x, y, w, h, conf = ins.bbox_xywh
        assert conf == 1 and xs.min() >= x and ys.min() >= y and xs.max() <= x + w and ys.max() <= y + h
        # The mesh is drawn where the parameters put it: the silhouette differs from its surroundings.
        img = cv2.imread(str(root / "images" / ins.image_path)).astype(np.float32)
        inside = img[ys, xs].std(axis=0).mean()
        assert inside < 60
    # Hand / face boxes hold their keypoints.
    kp2d = hd.keypoints("keypoints2d_smplx")
    for key, ids in (("lhand_bbox_xywh", [20, 25, 66]), ("face_bbox_xywh", [22, 76, 143])):
        box = hd[key]
        pts = kp2d[:, ids, :2]
        assert (pts[..., 0] >= box[:, None, 0]).all() and (pts[..., 0] <= (box[:, 0] + box[:, 2])[:, None]).all()


def test_deterministic_and_prefix_stable(tmp_path: Path, bodies: dict[str, BodyModel]) -> None:
    a = write_synthetic_dataset(tmp_path / "a", 1, seed=5, body_models=bodies, image_size=(160, 120))
    b = write_synthetic_dataset(tmp_path / "b", 2, seed=5, body_models=bodies, image_size=(160, 120))
    ha, hb = HumanData.open(a), HumanData.open(b)
    na = len(ha)
    np.testing.assert_array_equal(ha.bbox_xywh, hb.bbox_xywh[:na])
    np.testing.assert_array_equal(ha.smplx["body_pose"], hb.smplx["body_pose"][:na])
    for rel in ha.image_path:
        assert (tmp_path / "a" / "images" / rel).read_bytes() == (tmp_path / "b" / "images" / rel).read_bytes()
    assert not np.array_equal(hb.smplx["betas"][0], hb.smplx["betas"][-1])


def test_truncated_and_overlapping_people(tmp_path: Path, bodies: dict[str, BodyModel]) -> None:
    w, h = 160, 120
    common = dict(body_models=bodies, image_size=(w, h), people_per_image=2)
    cut = HumanData.open(write_synthetic_dataset(tmp_path / "cut", 2, seed=7, truncation=1.0, **common))
    uv = cut.keypoints("keypoints2d_smplx")[..., :2]
    outside = ((uv[..., 0] < 0) | (uv[..., 0] >= w) | (uv[..., 1] < 0) | (uv[..., 1] >= h)).any(axis=1)
    assert outside.mean() >= 0.75  # cut by a border...
    box = cut["bbox_xywh"]
    # ...and boxed by their visible part, as a detector would box them (the padding may reach past the border).
    assert (box[:, 0] >= -0.1 * box[:, 2] - 1).all() and (box[:, 0] + box[:, 2] <= w + 0.1 * box[:, 2] + 1).all()
    assert (box[:, 1] >= -0.1 * box[:, 3] - 1).all() and (box[:, 1] + box[:, 3] <= h + 0.1 * box[:, 3] + 1).all()
    # The two people of an image overlap, one clearly nearer than the other.
    hidden = HumanData.open(write_synthetic_dataset(tmp_path / "hidden", 2, seed=7, occlusion=1.0, **common))
    box, z = hidden["bbox_xywh"], hidden.keypoints("keypoints3d_smplx")[:, 0, 2]
    for a in range(0, len(box), 2):
        (x0, y0, w0, h0), (x1, y1, w1, h1) = box[a, :4], box[a + 1, :4]
        assert min(x0 + w0, x1 + w1) > max(x0, x1) and min(y0 + h0, y1 + h1) > max(y0, y1)
        assert max(z[a], z[a + 1]) / min(z[a], z[a + 1]) > 1.2


def test_pose_prior_covers_headings_and_activities() -> None:
    from smplestx.synthetic.pose_prior import ACTIVITIES, random_body_pose, random_orientation, rodrigues

    rng = np.random.default_rng(0)
    facing = np.array([(rodrigues(random_orientation(rng)) @ [0.0, 0.0, 1.0])[2] for _ in range(200)])
    assert (facing < -0.5).mean() > 0.2 and (facing > 0.5).mean() > 0.2  # towards the camera and back-facing
    knees = {a: np.mean([random_body_pose(rng, a)[[3, 4], 0].mean() for _ in range(20)]) for a in ACTIVITIES}
    assert knees["crouch"] > 1.2 and knees["sit"] > 1.0 and knees["walk"] < 0.8  # crouching and sitting bend knees
