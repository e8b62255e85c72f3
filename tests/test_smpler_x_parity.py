"""SMPLer-X parity with the reference's golden numbers (shared/parity/smpler_x_tiny)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import PARITY

SX = PARITY / "smpler_x_tiny"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"SMPLer-X parity fixtures not available ({path} missing; they live in ../shared/parity)")
    return path


@pytest.fixture(scope="module")
def units() -> dict[str, torch.Tensor]:
    """cases/units.npz as tensors."""
    return {k: torch.from_numpy(v) for k, v in np.load(_need(SX / "cases" / "units.npz")).items()}


def _maxdiff(a: torch.Tensor, b: torch.Tensor | np.ndarray) -> float:
    return float((a.detach().double().cpu() - torch.as_tensor(b).double()).abs().max())


# ---------------------------------------------------------------------------------------------- units


def test_soft_argmax_matches_reference(units):
    from smplestx.nn.heatmap import soft_argmax_2d, soft_argmax_3d

    assert _maxdiff(soft_argmax_3d(units["softargmax3d_in"]), units["softargmax3d_out"]) < 1e-6
    assert _maxdiff(soft_argmax_2d(units["softargmax2d_in"]), units["softargmax2d_out"]) < 1e-6


def test_sample_joint_features_matches_reference(units):
    from smplestx.nn.heatmap import sample_joint_features

    assert _maxdiff(sample_joint_features(units["sample_feat"], units["sample_xy"]), units["sample_out"]) < 1e-6


@pytest.mark.parametrize("key,extension", [("restore_hand", 2.0), ("restore_face", 1.5)])
def test_restore_bbox_matches_reference(units, key, extension):
    from smplestx.nn.heatmap import restore_bbox

    box = restore_bbox(
        units["restore_center"], units["restore_size"], aspect_ratio=1.0, extension=extension,
        hm_shape=(16, 12), input_shape=(256, 192),
    )
    assert _maxdiff(box, units[key]) < 1e-4
    # Size (-2, -3): both negative, the box stays inverted (x2 < x1) as in the reference.
    assert box[3, 2] < box[3, 0] and box[3, 3] < box[3, 1]


def test_roi_align_matches_mmcv_kernel(units):
    from smplestx.nn.roi_align import roi_align

    out = roi_align(units["roi_feat"], units["roi_rois"], (16, 16))
    assert out.shape == (5, 3, 16, 16)
    assert _maxdiff(out, units["roi_out"]) < 1e-5
    out64 = roi_align(units["roi_feat"].double(), units["roi_rois"].double(), (16, 16))
    # The stored float64 transcription was cast to float32: compare at float32 resolution.
    assert _maxdiff(out64, units["roi_out_mmcv_np64"]) < 1e-6


def test_roi_align_gradient_reaches_features(units):
    from smplestx.nn.roi_align import roi_align

    feat = units["roi_feat"].clone().requires_grad_(True)
    roi_align(feat, units["roi_rois"], (16, 16)).sum().backward()
    assert feat.grad is not None and float(feat.grad.abs().sum()) > 0


@pytest.mark.parametrize("src,dst", [("rot6d_special", "aa_special"), ("rot6d_rand5", "aa_rand5"), ("rot6d_rand3", "aa_rand3_one_by_one")])
def test_rotations_match_reference(units, src, dst):
    from smplestx.geometry.rotations import rot6d_to_axis_angle

    # Batches of 3 give the intended (one-by-one) result, not the reference's torch.cross(dim=0) accident.
    assert _maxdiff(rot6d_to_axis_angle(units[src]), units[dst]) < 1e-5


# ---------------------------------------------------------------------------------------------- model

#: The README's accepted tolerances (max-abs) through the public API.
TOL = {
    "vertices": 1e-4, "joints": 1e-4, "transl": 1e-4, "betas": 1e-4, "expression": 1e-4,
    "global_orient": 1e-4, "body_pose": 1e-4, "jaw_pose": 1e-4, "left_hand_pose": 1e-3, "right_hand_pose": 1e-3,
    "joints_2d": 1e-2, "lhand_box": 1e-2, "rhand_box": 1e-2, "face_box": 1e-2,
}
REF = {
    "vertices": "smplx_mesh_cam", "joints": "smplx_joint_cam", "transl": "cam_trans", "betas": "smplx_shape",
    "expression": "smplx_expr", "global_orient": "smplx_root_pose", "body_pose": "smplx_body_pose",
    "jaw_pose": "smplx_jaw_pose", "left_hand_pose": "smplx_lhand_pose", "right_hand_pose": "smplx_rhand_pose",
    "lhand_box": "lhand_bbox", "rhand_box": "rhand_bbox", "face_box": "face_bbox",
}
POSES = ("global_orient", "body_pose", "jaw_pose", "left_hand_pose", "right_hand_pose")


@pytest.fixture(scope="module")
def sx_case() -> dict[str, np.ndarray]:
    """cases/model_forward.npz of SMPLer-X."""
    return dict(np.load(_need(SX / "cases" / "model_forward.npz")))


@pytest.fixture(scope="module")
def sx_model(parity_body):
    """The tiny SMPLer-X through the public loader (family from the checkpoint, sizes from the official config)."""
    from smplestx import load_model

    return load_model(_need(SX / "smpler_x_tiny.pth.tar"), body_models=parity_body, config=SX / "config_smpler_x_tiny.py")


def _mats(aa: torch.Tensor | np.ndarray) -> torch.Tensor:
    from smplestx.geometry.rotations import axis_angle_to_rotmat

    return axis_angle_to_rotmat(torch.as_tensor(aa, dtype=torch.float64).reshape(-1, 3))


@pytest.mark.parametrize("prefix", ["", "b2_"])
def test_predict_crops_matches_reference(sx_model, sx_case, prefix):
    out = sx_model.predict_crops(torch.from_numpy(sx_case[prefix + "img"]))
    b = sx_case[prefix + "img"].shape[0]
    for name in ("lhand_box", "rhand_box", "face_box"):
        assert getattr(out, name).shape == (b, 4)
    for name, key in REF.items():
        ours, ref = getattr(out, name), sx_case[prefix + key]
        if name in POSES:
            diff = _maxdiff(_mats(ours), _mats(ref))  # compare rotations, not axis-angle branches
        else:
            diff = _maxdiff(ours.reshape(ref.shape), ref)
        assert diff < TOL[name], f"{name}: max-abs {diff:.3g} > {TOL[name]}"
    # joints_2d is in 512x384 crop pixels; the reference's smplx_joint_proj is in 16x12 heat-map cells (x32).
    assert _maxdiff(out.joints_2d, sx_case[prefix + "smplx_joint_proj"] * 32) < TOL["joints_2d"]
    assert out.network is None


@pytest.mark.parametrize("prefix", ["", "b2_"])
def test_network_intermediates_match_reference(sx_model, sx_case, prefix):
    out = sx_model.net(torch.from_numpy(sx_case[prefix + "img"]))
    got = {"img_feat": out.img_feat, "task_tokens": out.task_tokens, "joint_img": out.joint_img, **out.intermediates}
    # Heat-map joints and RoIs in cells; boxes/centres/sizes in cells; features unitless (abs values up to ~15).
    tol = {"hand_joint_img_raw": 1e-3, "joint_img": 1e-3, "hand_pose_6d": 1e-3, "lhand_roi": 1e-3, "rhand_roi": 1e-3,
           "hand_feat": 1e-3, "lhand_roi_feat": 1e-3, "rhand_roi_feat": 1e-3}
    for key, value in got.items():
        if key in ("body_boxes", "joint_img_crop_cells"):  # ours only: checked through the losses
            continue
        diff = _maxdiff(value, sx_case[prefix + key])
        assert diff < tol.get(key, 1e-4), f"{key}: max-abs {diff:.3g}"
    # Test-mode boxes are 8x the RoIs (RoIs on the 4x feature map, boxes in 512x384 pixels).
    assert _maxdiff(out.lhand_box, out.intermediates["lhand_roi"][:, 1:] * 8) < 1e-3


def test_pseudo_gt_mesh_matches_reference(sx_model, sx_case):
    """The body layer with the b2 target parameters + translation reproduces smplx_mesh_cam_pseudo_gt."""
    pose = torch.from_numpy(sx_case["b2_target_smplx_pose"]).reshape(2, 53, 3)
    mesh = sx_model.body(
        global_orient=pose[:, 0], body_pose=pose[:, 1:22], left_hand_pose=pose[:, 22:37], right_hand_pose=pose[:, 37:52],
        jaw_pose=pose[:, 52], betas=torch.from_numpy(sx_case["b2_target_smplx_shape"]),
        expression=torch.from_numpy(sx_case["b2_target_smplx_expr"]), transl=torch.from_numpy(sx_case["b2_target_smplx_cam_trans"]),
    )
    assert _maxdiff(mesh.vertices, sx_case["b2_smplx_mesh_cam_pseudo_gt"]) < 1e-4


def test_agora_joint_projection_matches_reference(sx_model, sx_case):
    """AGORA test mode projects all 144 layer joints; the rest of the output is unchanged."""
    pred = sx_model.predict_crops(torch.from_numpy(sx_case["img"]))
    p = {k: getattr(pred, k) for k in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression", "transl")}
    joints144 = sx_model.body(**p).joints
    assert joints144.shape[1] == 144
    assert _maxdiff(sx_model.project_to_crop(joints144), sx_case["agora_smplx_joint_proj"] * 32) < TOL["joints_2d"]


def test_batch_of_three_keeps_root_and_jaw(sx_model, sx_case):
    """Reference quirk 19 is fixed: a batch of 3 gives the same root and jaw as one crop at a time."""
    img = torch.from_numpy(sx_case["img"][:3])
    batch = sx_model.predict_crops(img)
    for i in range(3):
        one = sx_model.predict_crops(img[i : i + 1])
        assert _maxdiff(_mats(batch.global_orient[i]), _mats(one.global_orient[0])) < 1e-4
        assert _maxdiff(_mats(batch.jaw_pose[i]), _mats(one.jaw_pose[0])) < 1e-4


# ---------------------------------------------------------------------------------------------- checkpoint


def test_checkpoint_family_and_legacy_names(tmp_path, parity_body, sx_case):
    """OSX-era names and missing module. prefixes load the same weights; strict loading names what is missing."""
    from smplestx.models.checkpoint import CheckpointError, checkpoint_family, load_network, read_checkpoint

    src = _need(SX / "smpler_x_tiny.pth.tar")
    state, _ = read_checkpoint(src)
    assert checkpoint_family(state) == "smpler_x"
    legacy = {}
    for k, v in state.items():
        k = k.replace("encoder.", "backbone.", 1) if k.startswith("encoder.") else k
        k = k.replace("body_regressor", "body_rotation_net").replace("hand_regressor", "hand_rotation_net")
        legacy[k] = v
    torch.save({"epoch": 1, "network": legacy}, tmp_path / "legacy.pth.tar")
    net = load_network(tmp_path / "legacy.pth.tar", SX / "config_smpler_x_tiny.py")
    ref = load_network(src, SX / "config_smpler_x_tiny.py")
    for (k, a), (_, b) in zip(sorted(net.state_dict().items()), sorted(ref.state_dict().items())):
        assert torch.equal(a, b), k
    del legacy["box_net.face_size.2.bias"]
    torch.save({"network": legacy}, tmp_path / "broken.pth.tar")
    with pytest.raises(CheckpointError, match="face_size"):
        load_network(tmp_path / "broken.pth.tar", SX / "config_smpler_x_tiny.py")


def test_tiny_width_needs_config():
    from smplestx.models.checkpoint import CheckpointError, load_network

    with pytest.raises(CheckpointError, match="--config"):
        load_network(_need(SX / "smpler_x_tiny.pth.tar"))


def test_convert_to_safetensors_round_trip(tmp_path, parity_body, sx_case):
    """convert writes the weights and the SMPLer-X config; the converted file loads without --config, same outputs."""
    from smplestx import load_model
    from smplestx.models.checkpoint import convert_checkpoint
    from smplestx.models.smpler_x import SMPLerXConfig

    dst = tmp_path / "tiny.safetensors"
    cfg = convert_checkpoint(SX / "smpler_x_tiny.pth.tar", dst, config=SX / "config_smpler_x_tiny.py")
    assert isinstance(cfg, SMPLerXConfig) and cfg.encoder.task_tokens_num == 31
    model = load_model(dst, body_models=parity_body)
    assert isinstance(model.config, SMPLerXConfig)
    out = model.predict_crops(torch.from_numpy(sx_case["b2_img"]))
    assert _maxdiff(out.vertices, sx_case["b2_smplx_mesh_cam"]) < 1e-4
    assert _maxdiff(out.rhand_box, sx_case["b2_rhand_bbox"]) < 1e-2


# ---------------------------------------------------------------------------------------------- config


def test_official_config_read_as_data():
    from smplestx.models.smpler_x import load_smpler_x_config

    cfg = load_smpler_x_config(_need(SX / "config_smpler_x_tiny.py"))
    e = cfg.encoder
    assert (e.embed_dim, e.depth, e.num_heads, e.task_tokens_num, cfg.feat_dim) == (64, 2, 4, 31, 64)
    assert cfg.princpt == (96.0, 128.0) and cfg.output_hm_shape == (16, 16, 12) and cfg.upscale == 4
    assert abs(cfg.camera_depth_scale - 56.3819) < 1e-4


def test_cli_convert_and_info_name_the_family(tmp_path, capsys):
    import json

    from smplestx.cli import main

    src, cfg = _need(SX / "smpler_x_tiny.pth.tar"), SX / "config_smpler_x_tiny.py"
    assert main(["convert", str(src), str(tmp_path / "t.safetensors"), "--config", str(cfg), "--dtype", "fp16"]) == 0
    assert "smpler_x" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "t.safetensors")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "smpler_x" and info["config"]["encoder"]["task_tokens_num"] == 31
    assert info["parameters"] == 7150366 and info["tensors"] == 103  # as the README counts them
    from safetensors import safe_open

    with safe_open(str(tmp_path / "t.safetensors"), framework="pt") as f:
        assert f.get_tensor("box_net.deconv.1.num_batches_tracked").dtype == torch.int64  # counters are not cast
        assert f.get_tensor("box_net.deconv.1.running_var").dtype == torch.float16


# ---------------------------------------------------------------------------------------------- losses

#: Per-element max-abs tolerances: the x100 3D-joint and x10 pose terms carry float32 noise of ~3e-4 (README).
LOSS_TOL = {"smplx_pose": 1e-3, "joint_cam": 1e-3, "smplx_joint_cam": 1e-3}
LOSS_KEYS = ("smplx_pose", "smplx_shape", "smplx_expr", "joint_cam", "smplx_joint_cam", "lhand_bbox", "rhand_bbox",
             "face_bbox", "joint_proj", "joint_img", "smplx_joint_img")


@pytest.fixture(scope="module")
def loss_case() -> dict[str, np.ndarray]:
    """cases/train_loss.npz of SMPLer-X."""
    return dict(np.load(_need(SX / "cases" / "train_loss.npz")))


def _loss_inputs(case: dict[str, np.ndarray], rows: slice = slice(None)) -> tuple[dict, dict]:
    targets = {k[len("target_"):]: torch.from_numpy(v[rows]) for k, v in case.items() if k.startswith("target_")}
    meta = {k[len("meta_"):]: torch.from_numpy(v[rows]) for k, v in case.items() if k.startswith("meta_")}
    return targets, meta


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_losses_match_reference(sx_model, sx_case, loss_case, train):
    import copy

    from smplestx.train.losses_smpler_x import smpler_x_loss_terms, smpler_x_total_loss

    model = copy.deepcopy(sx_model).train(train)  # train mode updates BatchNorm running stats: never the shared model
    targets, meta = _loss_inputs(loss_case)
    before = {k: v.clone() for k, v in targets.items()}
    terms = smpler_x_loss_terms(model(torch.from_numpy(sx_case["img"]), train=True), targets, meta, model.config,
                                mode="reference")
    prefix = "loss_" if train else "evalloss_"
    assert list(terms) == list(LOSS_KEYS)
    for key, value in terms.items():
        ref = loss_case[prefix + key]
        assert value.dtype == torch.from_numpy(ref).dtype, key  # the reference's float64 promotions
        diff = _maxdiff(value, ref)
        assert diff < LOSS_TOL.get(key, 1e-4), f"{key}: max-abs {diff:.3g}"
    total = smpler_x_total_loss(terms)
    assert abs(float(total.detach()) - float(loss_case[prefix + "sum"])) < 1e-5 * abs(float(loss_case[prefix + "sum"]))
    total.backward()
    # Every branch learns: encoder, body heat maps, boxes, hand crops' head, face head.
    for name in ("encoder.task_tokens", "body_position_net.conv.0.weight", "box_net.lhand_size.2.weight",
                 "hand_regressor.hand_pose_out.0.weight", "hand_position_net.conv.0.weight", "face_regressor.expr_out.0.weight"):
        grad = model.net.get_parameter(name).grad
        assert grad is not None and float(grad.abs().sum()) > 0, name
    # Unlike the reference (quirk 28), the inputs are left as they were.
    assert all(torch.equal(before[k], targets[k]) for k in targets)


def test_hand_targets_remapped_into_predicted_crops(sx_model, sx_case, loss_case):
    import copy

    from smplestx.train.losses_smpler_x import remap_hand_targets

    model = copy.deepcopy(sx_model).train()
    out = model(torch.from_numpy(sx_case["img"]), train=True)
    assert _maxdiff(out.body_boxes[:, 0], loss_case["train_lhand_bbox"]) < 1e-3
    assert _maxdiff(out.body_boxes[:, 2], loss_case["train_face_bbox"]) < 1e-3
    targets, meta = _loss_inputs(loss_case)
    for coord, trunc in (("joint_img", "joint_trunc"), ("smplx_joint_img", "smplx_joint_trunc")):
        got, got_trunc = remap_hand_targets(targets[coord], meta[trunc], out.body_boxes, model.config)
        assert _maxdiff(got, loss_case[f"after_target_{coord}"]) < 1e-3
        assert _maxdiff(got_trunc, loss_case[f"after_meta_{trunc}"]) == 0


def test_losses_one_sample_at_a_time(sx_model, sx_case, loss_case):
    """Eval mode, each sample alone: box terms exist only for valid boxes; values match the reference's b1_*."""
    from smplestx.train.losses_smpler_x import smpler_x_loss_terms

    img = torch.from_numpy(sx_case["img"])
    for i in range(img.shape[0]):
        targets, meta = _loss_inputs(loss_case, slice(i, i + 1))
        terms = smpler_x_loss_terms(sx_model(img[i : i + 1], train=True), targets, meta, sx_model.config, mode="reference")
        for key in LOSS_KEYS:
            present = bool(loss_case[f"b1_evalloss_{key}_present"][i])
            assert (key in terms) == present, (i, key)
            if present:
                diff = _maxdiff(terms[key][0], loss_case[f"b1_evalloss_{key}"][i])
                assert diff < LOSS_TOL.get(key, 1e-4), f"sample {i} {key}: max-abs {diff:.3g}"


def test_load_model_takes_a_config_object_of_either_family(sx_model, sx_case, parity_body, tiny_ckpt, tiny_config):
    """load_model(config=SMPLerXConfig(...)) builds the SMPLer-X model (it raised TypeError); SMPLestXConfig still works."""
    from smplestx import load_model
    from smplestx.models.smplest_x import load_official_config
    from smplestx.models.smpler_x import load_smpler_x_config
    from smplestx.models.smpler_x import SMPLerX

    cfg = load_smpler_x_config(SX / "config_smpler_x_tiny.py")
    model = load_model(SX / "smpler_x_tiny.pth.tar", body_models=parity_body, config=cfg, dtype="fp32")
    assert isinstance(model, SMPLerX) and model.config == cfg
    crops = torch.from_numpy(sx_case["img"][:1])
    assert _maxdiff(model.predict_crops(crops).vertices, sx_model.predict_crops(crops).vertices) < 1e-6
    smplest = load_model(tiny_ckpt, body_models=parity_body, config=load_official_config(tiny_config), dtype="fp32")
    assert smplest.config == load_official_config(tiny_config)
