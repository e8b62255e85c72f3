"""Training samples from HumanData: batch layout of the loss fixture, geometry, flipping, determinism, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

import smplestx.train.samples as samples
from smplestx.body import BodyModel
from smplestx.body.joint_sets import SMPLX_137, SMPLX_ORIG_53
from smplestx.data import HumanData, write_humandata
from smplestx.synthetic.dataset import write_synthetic_dataset
from smplestx.render import Renderer
from smplestx.data.datasets import DatasetQuirks
from smplestx.train.samples import HumanDataTrainSet, SampleImageError, param_targets


@pytest.fixture(scope="module")
def body_dir(synthetic_body: Path) -> Path:
    return synthetic_body


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory, body_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("synthetic_train")
    write_synthetic_dataset(out, 4, seed=11, body_models=body_dir, image_size=(320, 240), people_per_image=1)
    return out


def _ds(synth: Path, **kw) -> HumanDataTrainSet:
    return HumanDataTrainSet(synth / "annotations" / "synthetic_train.npz", synth / "images", **kw)


def _force(monkeypatch: pytest.MonkeyPatch, scale: float = 1.0, rot: float = 0.0, flip: bool = False) -> None:
    monkeypatch.setattr(samples, "draw_augmentation", lambda rng, augment, rot_factor=30.0: (scale, rot, np.ones(3), flip))


def test_batch_matches_loss_fixture(synth: Path, parity_dir: Path) -> None:
    ds = _ds(synth)
    inputs, targets, meta = default_collate([ds[i] for i in range(4)])
    assert inputs["img"].shape == (4, 3, 512, 384) and inputs["img"].dtype == torch.float32
    assert 0.0 <= float(inputs["img"].min()) and float(inputs["img"].max()) <= 1.0
    fixture = np.load(parity_dir / "cases" / "train_loss.npz")
    checked = 0
    for key in fixture.files:
        for prefix, batch in (("target_", targets), ("meta_", meta)):
            if key.startswith(prefix):
                got = batch[key[len(prefix):]]
                assert tuple(got.shape) == fixture[key].shape, key
                assert str(got.dtype).replace("torch.", "") == str(fixture[key].dtype), key
                checked += 1
    assert checked == 13
    for key in ("lhand_bbox_center", "rhand_bbox_size", "face_bbox_center", "smplx_cam_trans"):
        assert targets[key].dtype == torch.float32
    for key in ("joint_valid", "smplx_joint_valid", "smplx_joint_trunc"):
        assert meta[key].shape == (4, 137, 1)


def test_joint_targets_land_on_the_mannequin(synth: Path, body_dir: Path) -> None:
    ds = _ds(synth, augment=False)
    hd = HumanData.open(synth / "annotations" / "synthetic_train.npz")
    body = BodyModel.from_dir(body_dir, "neutral")
    renderer = Renderer(body.faces_np)
    for i in range(len(ds)):
        inputs, targets, meta = ds[i]
        ins = hd.instance(int(ds.rows[i]))
        verts = body(**{k: torch.from_numpy(np.asarray(v))[None] for k, v in ins.smplx.items()}).vertices[0].numpy()
        # Without augmentation the crop is a scale + shift of the image: the crop camera follows from its affine.
        box = samples.process_box(ins.bbox_xywh[:4], 320, 240, 1.2 * 0.833)
        crop = samples.crop_image(np.zeros((240, 320, 3), np.float32), box)
        a = crop.trans
        focal = ins.meta["focal_length"] * [a[0, 0], a[1, 1]]
        princpt = ins.meta["principal_point"] * [a[0, 0], a[1, 1]] + a[:, 2]
        mask = renderer.rasterize([verts], focal, princpt, 512, 384).mask.numpy()
        near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # fingers are a few pixels wide
        xy = targets["joint_img"][:, :2] * [384 / 12, 512 / 16]
        core = [*range(0, 14), *range(25, 65)]  # body joints and fingers are inside the mesh
        ok = [near[int(round(y)), int(round(x))] for x, y in xy[core] if 0 <= x < 384 and 0 <= y < 512]
        assert len(ok) > 40 and np.mean(ok) > 0.95
        # The image pixels at the silhouette are the mannequin's, not the background's.
        img = inputs["img"].numpy().transpose(1, 2, 0)
        assert img[mask].std(axis=0).mean() < img[~mask].std(axis=0).mean() + 0.2
        assert meta["is_3D"] == 1.0 and meta["joint_valid"].all() and meta["smplx_shape_valid"] == 1.0
        # Without rotation the camera-frame targets are the annotation's, root-relative.
        kp3d = ins.keypoints["keypoints3d_smplx"][list(samples.ANNOTATION_137_IN_144), :3]
        np.testing.assert_allclose(targets["joint_cam"], kp3d - kp3d[0], atol=1e-6)
        np.testing.assert_allclose(targets["smplx_pose"][3:66], ins.smplx["body_pose"].reshape(-1), atol=1e-7)


def test_flip_mirrors_and_twice_is_identity(synth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _ds(synth)
    _force(monkeypatch, flip=False)
    _, plain, plain_meta = ds[1]
    _force(monkeypatch, flip=True)
    inputs, flipped, flipped_meta = ds[1]
    pairs = SMPLX_137.flip_pairs
    swap = np.arange(137)
    for a, b in pairs:
        swap[a], swap[b] = b, a
    # Image-plane: x mirrored about the crop centre (12 cells wide), left / right joints exchanged.
    np.testing.assert_allclose(flipped["joint_img"][swap, 0], 12 - plain["joint_img"][:, 0], atol=1e-4)
    np.testing.assert_allclose(flipped["joint_img"][swap, 1], plain["joint_img"][:, 1], atol=1e-4)
    np.testing.assert_allclose(flipped["joint_cam"][swap], plain["joint_cam"] * [-1, 1, 1], atol=1e-6)
    np.testing.assert_array_equal(flipped_meta["joint_valid"][swap], plain_meta["joint_valid"])
    np.testing.assert_allclose(flipped["lhand_bbox_center"][0], 12 - plain["rhand_bbox_center"][0], atol=1e-4)
    # Parameters: sides exchanged, y / z axis-angle components negated; flipping back restores them.
    pose = plain["smplx_pose"].reshape(53, 3)
    fpose = flipped["smplx_pose"].reshape(53, 3)
    order = np.arange(53)
    for a, b in SMPLX_ORIG_53.flip_pairs:
        order[a], order[b] = b, a
    np.testing.assert_allclose(fpose[order], pose * [1, -1, -1], atol=1e-6)
    back = param_targets({"root_pose": fpose[0], "body_pose": fpose[1:22], "lhand_pose": fpose[22:37],
                          "rhand_pose": fpose[37:52], "jaw_pose": fpose[52], "expr": flipped["smplx_expr"],
                          "shape": flipped["smplx_shape"], "lhand_valid": True, "rhand_valid": True,
                          "face_valid": True}, True, 0.0)
    np.testing.assert_allclose(back.pose, plain["smplx_pose"], atol=1e-6)


def test_rotation_turns_the_root_and_the_joints(synth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _ds(synth)
    _force(monkeypatch)
    _, plain, _ = ds[0]
    _force(monkeypatch, rot=30.0)
    _, rotated, _ = ds[0]
    r = samples.rotation_about_z(30.0)
    np.testing.assert_allclose(rotated["joint_cam"], plain["joint_cam"] @ r.T, atol=1e-5)
    root = cv2.Rodrigues(r @ cv2.Rodrigues(plain["smplx_pose"][:3])[0])[0].reshape(3)
    np.testing.assert_allclose(rotated["smplx_pose"][:3], root, atol=1e-5)
    np.testing.assert_array_equal(rotated["smplx_pose"][3:], plain["smplx_pose"][3:])


def test_deterministic_per_seed_epoch_index(synth: Path) -> None:
    a, b = _ds(synth, seed=3), _ds(synth, seed=3)
    first = a[2][0]["img"]
    assert torch.equal(first, b[2][0]["img"])
    a.set_epoch(1)
    assert not torch.equal(first, a[2][0]["img"])
    b.set_epoch(1)
    assert torch.equal(a[2][0]["img"], b[2][0]["img"])
    assert not torch.equal(_ds(synth, seed=4)[2][0]["img"], first)
    # Worker processes produce the same samples as the main process.
    serial = [a[i][1]["joint_img"] for i in range(len(a))]
    loader = DataLoader(a, batch_size=1, num_workers=2, multiprocessing_context="fork")
    for want, (_, got, _) in zip(serial, loader):
        np.testing.assert_array_equal(got["joint_img"][0].numpy(), want)


def test_missing_or_corrupt_image_is_one_clear_line(synth: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "images"
    shutil.copytree(synth / "images", root)
    ds = HumanDataTrainSet(synth / "annotations" / "synthetic_train.npz", root)
    rel = str(ds.hd.image_path[int(ds.rows[0])])
    (root / rel).unlink()
    with pytest.raises(SampleImageError, match="file not found") as err:
        ds[0]
    assert rel in str(err.value) and "\n" not in str(err.value)
    (root / rel).write_bytes(b"not a jpeg")
    with pytest.raises(SampleImageError, match="corrupt"):
        ds[0]


def _derived(synth: Path, tmp_path: Path, edit) -> Path:
    hd = HumanData.open(synth / "annotations" / "synthetic_train.npz")
    data = {k: np.array(hd[k]) if not isinstance(hd[k], dict) else dict(hd[k]) for k in hd.keys()
            if not k.startswith("__")}
    for key in ("keypoints2d_smplx", "keypoints3d_smplx"):
        data[key] = np.array(hd.keypoints(key))
    data["smplx"] = {k: np.array(v) for k, v in data["smplx"].items()}
    edit(data)
    return write_humandata(tmp_path / "derived.npz", data)


def test_filters_and_sample_interval(synth: Path, tmp_path: Path) -> None:
    def edit(d: dict) -> None:
        d["keypoints3d_smplx"][1, 5, 0] = np.nan  # a joint of the 137 set: dropped
        d["bbox_xywh"][2, 2:4] = 0  # an empty box: dropped

    path = _derived(synth, tmp_path, edit)
    assert list(HumanDataTrainSet(path, synth / "images").rows) == [0, 3]
    assert list(HumanDataTrainSet(path, synth / "images", sample_interval=3).rows) == [0, 3]
    assert list(HumanDataTrainSet(path, synth / "images", sample_interval=2).rows) == [0]


def test_missing_parts_and_hand_only_roots(synth: Path, tmp_path: Path, body_dir: Path) -> None:
    def edit(d: dict) -> None:
        n = len(d["image_path"])
        d["smplx"]["left_hand_pose"][:] = 0  # no left hand
        d["smplx"].pop("expression")  # no face
        d["smplx"]["lhand_root"] = np.tile([[0.1, 0.2, 0.3]], (n, 1, 1))
        d["smplx"]["rhand_root"] = np.tile([[0.4, 0.5, 0.6]], (n, 1, 1))
        d.pop("keypoints3d_smplx")  # 2D only
        d.pop("keypoints3d_smplx_mask")

    path = _derived(synth, tmp_path, edit)
    ds = HumanDataTrainSet(path, synth / "images", augment=False, traits=DatasetQuirks(hand_only=True))
    _, targets, meta = ds[0]
    np.testing.assert_array_equal(targets["lhand_root"], [[0.1, 0.2, 0.3]])
    assert targets["lhand_root"].dtype == np.float64
    assert meta["is_3D"] == 0.0 and not targets["joint_cam"].any()
    valid = meta["smplx_pose_valid"].reshape(53, 9)[:, 0]
    assert not valid[:22].any() and not valid[22:37].any() and valid[37:52].all() and valid[52] == 0
    assert not meta["joint_valid"][25:45].any() and not meta["joint_valid"][12] and meta["joint_valid"][45:65].all()
    assert meta["smplx_expr_valid"] == 0.0 and meta["smplx_shape_valid"] == 0.0
    assert not meta["smplx_joint_trunc"].any()  # no 3D joints and no camera: the reference marks all truncated
    # With the set's camera the truncation comes from the SMPL-X layer's projected joints.
    cam = DatasetQuirks(focal=(500.0, 500.0), princpt=(160.0, 120.0))
    _, _, meta = HumanDataTrainSet(path, synth / "images", augment=False, traits=cam, body_models=body_dir)[0]
    assert meta["smplx_joint_trunc"][45:65].any() and not meta["smplx_joint_trunc"][25:45].any()
