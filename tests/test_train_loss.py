"""Training losses against the reference's loss dict (cases/train_loss.npz), and the corrected mode."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from smplestx.models.smplest_x import TrainOutput, part_relative
from smplestx.geometry.rotations import axis_angle_to_rotmat, rot6d_to_axis_angle
from smplestx.train.losses import LossWeights, loss_terms, loss_terms_from_output, total_loss

#: x100-weighted metre-scale 3D terms: float32 rounding of camera-frame joints (z ~ tens of metres) alone is ~2e-6 m.
ATOL_3D = {"joint_cam", "smplx_joint_cam"}
#: Network outputs differ from the reference's by float32 kernel noise (~2e-6 in the raw 6D), hence the atol.
ATOL = {"smplx_pose": 2e-4}  # x10-weighted rotation-matrix entries


def atol(key: str) -> float:
    return 1e-3 if key in ATOL_3D else ATOL.get(key, 5e-5)


@pytest.fixture(scope="module")
def model(tiny_ckpt, tiny_config, parity_body):
    from smplestx import load_model

    return load_model(tiny_ckpt, body_models=parity_body, config=tiny_config)


@pytest.fixture(scope="module")
def case(parity_dir) -> dict[str, np.ndarray]:
    return dict(np.load(parity_dir / "cases" / "train_loss.npz"))


@pytest.fixture(scope="module")
def inputs(case):
    """(targets, meta) as the loss takes them: fixture keys without the prefixes, dtypes as collated."""
    targets = {k.removeprefix("target_"): torch.from_numpy(v) for k, v in case.items() if k.startswith("target_")}
    meta = {k.removeprefix("meta_"): torch.from_numpy(v) for k, v in case.items() if k.startswith("meta_")}
    return targets, meta


@pytest.fixture(scope="module")
def images(forward_case) -> torch.Tensor:
    return torch.from_numpy(forward_case["img"])


@pytest.fixture(scope="module")
def reference_output(forward_case) -> TrainOutput:
    """A TrainOutput built from the reference's own forward outputs (isolates the loss math from the network)."""
    f = {k: torch.from_numpy(v) for k, v in forward_case.items()}
    b = f["img"].shape[0]
    pose = torch.cat([f[f"smplx_{k}_pose"].reshape(b, -1, 3) for k in ("root", "body", "lhand", "rhand", "jaw")], dim=1)
    joint_cam = f["smplx_joint_cam"]  # the reference's test output is joint_cam_wo_ra
    return TrainOutput(
        pose=pose,
        lhand_root_pose=rot6d_to_axis_angle(f["decoder_lhand_root_pose"]),
        rhand_root_pose=rot6d_to_axis_angle(f["decoder_rhand_root_pose"]),
        betas=f["smplx_shape"],
        expression=f["smplx_expr"],
        joints_rel=joint_cam,
        joints_part_rel=part_relative(joint_cam),
        joints_hm=f["smplx_joint_proj"],
    )


def fixture_terms(case: dict[str, np.ndarray], prefix: str) -> list[str]:
    return [k[len(prefix):] for k in case if k.startswith(prefix) and not k.endswith(("_mean", "sum"))]


@pytest.mark.parametrize("hand_loss,prefix", [(False, "loss_"), (True, "handloss_")])
def test_reference_mode_matches_reference(model, images, inputs, case, hand_loss, prefix):
    with torch.no_grad():
        terms = loss_terms(model, images, *inputs, hand_loss=hand_loss, mode="reference")
    assert list(terms) == fixture_terms(case, prefix)  # same keys, same order
    for key, value in terms.items():
        want = case[prefix + key]
        assert value.shape == want.shape and value.numpy().dtype == want.dtype, key
        np.testing.assert_allclose(value.numpy(), want, rtol=1e-4, atol=atol(key), err_msg=key)
        np.testing.assert_allclose(value.mean().item(), case[f"{prefix}{key}_mean"], rtol=1e-4, atol=1e-5, err_msg=key)
    total = total_loss(terms)
    assert total.dtype == torch.float64  # float64 validity flags promote some terms, as in the reference
    np.testing.assert_allclose(total.item(), case[prefix + "sum"], rtol=1e-5)


@pytest.mark.parametrize("hand_loss,prefix", [(False, "loss_"), (True, "handloss_")])
def test_loss_math_exact_on_reference_forward(reference_output, inputs, case, hand_loss, prefix):
    """Fed the reference's own forward outputs, every term matches to float32 rounding."""
    terms = loss_terms_from_output(reference_output, *inputs, hand_loss=hand_loss, mode="reference")
    for key, value in terms.items():
        np.testing.assert_allclose(value.numpy(), case[prefix + key], rtol=1e-6, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(total_loss(terms).item(), case[prefix + "sum"], rtol=1e-7)


def test_corrected_mode_fixes_the_quirks(reference_output, inputs, case):
    targets, meta = inputs
    ref = loss_terms_from_output(reference_output, targets, meta, hand_loss=True, mode="reference")
    fix = loss_terms_from_output(reference_output, targets, meta, hand_loss=True)
    assert list(fix) == list(ref)
    b = meta["is_3D"].shape[0]
    assert all(v.dtype == torch.float32 for v in fix.values()) and total_loss(fix).dtype == torch.float32
    for key in ("hand_root", "hand_root_chain"):
        assert ref[key].shape == (b, b, 9) and fix[key].shape == (b, 9)
        # Sample i gated by its own pelvis flag: the diagonal of the reference's broadcast.
        diag = torch.diagonal(ref[key], dim1=0, dim2=1).T
        torch.testing.assert_close(fix[key], diag, rtol=1e-6, atol=1e-6)
        assert not torch.allclose(ref[key].mean(), fix[key].mean())
    # Part-relative 3D terms are masked for 2D-only samples (is_3D = 0: their 3D targets are dummy zeros).
    no3d = meta["is_3D"] == 0
    assert no3d.any() and (ref["smplx_joint_cam"][no3d] > 0).any()
    for key in ("smplx_joint_cam", "hand_pose"):
        assert (fix[key][no3d] == 0).all()
        torch.testing.assert_close(fix[key][~no3d], ref[key][~no3d].float(), rtol=1e-6, atol=1e-6)
    for key in ("smplx_orient", "smplx_pose", "smplx_shape", "smplx_expr", "joint_cam", "hand_align", "joint_proj"):
        torch.testing.assert_close(fix[key], ref[key].float(), rtol=1e-6, atol=1e-6, msg=key)


def test_corrected_mode_ignores_zero_mano_roots(reference_output, inputs):
    """All-zero lhand_root/rhand_root (the datasets' filler) supervise nothing in corrected mode."""
    targets, meta = inputs
    hand_only = meta["joint_trunc"][:, 0, 0] == 0
    assert hand_only.any()
    zeroed = {**targets, **{k: torch.zeros_like(targets[k]) for k in ("lhand_root", "rhand_root")}}
    fix = loss_terms_from_output(reference_output, zeroed, meta)
    ref = loss_terms_from_output(reference_output, zeroed, meta, mode="reference")
    for key in ("hand_root", "hand_root_chain"):
        assert (fix[key][hand_only] == 0).all()
        assert (torch.diagonal(ref[key], dim1=0, dim2=1).T[hand_only] > 0).any()


def test_weights_and_dtype(reference_output, inputs):
    base = loss_terms_from_output(reference_output, *inputs)
    w = LossWeights(smplx_kps_3d_weight=1.0, hand_consist_weight=0.5)
    scaled = loss_terms_from_output(reference_output, *inputs, weights=w)
    torch.testing.assert_close(scaled["joint_cam"] * 100, base["joint_cam"])
    torch.testing.assert_close(scaled["hand_root_chain"] * 2, base["hand_root_chain"])
    torch.testing.assert_close(scaled["hand_root"], base["hand_root"])
    assert LossWeights.from_config({"smplx_kps_3d_weight": 100.0, "smplx_pose_weight": 10}) == LossWeights()
    assert LossWeights.from_config({}).smplx_pose_weight == 1.0  # the reference's getattr default
    double = TrainOutput(**{k: None if v is None else v.double() for k, v in vars(reference_output).items()})
    assert all(v.dtype == torch.float64 for v in loss_terms_from_output(double, *inputs).values())


def test_bad_inputs(reference_output, inputs):
    targets, meta = inputs
    with pytest.raises(ValueError, match="mode"):
        loss_terms_from_output(reference_output, targets, meta, mode="exact")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="is_3D"):
        loss_terms_from_output(reference_output, targets, {k: v for k, v in meta.items() if k != "is_3D"})
    with pytest.raises(ValueError):
        total_loss({})


def test_loss_rotation_route_matches_known_rotations():
    """Known rotations (a transposed or sign-flipped matrix fails), then random ones against scipy."""
    from scipy.spatial.transform import Rotation

    quarter = torch.tensor([[0.0, 0.0, np.pi / 2], [np.pi / 2, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    r = axis_angle_to_rotmat(quarter)
    torch.testing.assert_close(r[0] @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([0.0, 1, 0], dtype=torch.float64))
    torch.testing.assert_close(r[1] @ torch.tensor([0.0, 1, 0], dtype=torch.float64), torch.tensor([0.0, 0, 1], dtype=torch.float64))
    torch.testing.assert_close(r[2], torch.eye(3, dtype=torch.float64))
    aa = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = torch.from_numpy(Rotation.from_rotvec(aa.numpy()).as_matrix())
    torch.testing.assert_close(axis_angle_to_rotmat(aa), expected, atol=1e-7, rtol=0)  # the losses' route (eps > 0)
    torch.testing.assert_close(axis_angle_to_rotmat(aa, eps=0.0), expected, atol=1e-12, rtol=0)


def test_gradients_flow(model, images, inputs):
    targets, meta = inputs
    model.zero_grad(set_to_none=True)
    try:
        total = total_loss(loss_terms(model, images, targets, meta, hand_loss=True))
        total.backward()
        grads = {n.removeprefix("net."): p.grad for n, p in model.named_parameters()}
        assert torch.isfinite(total)
        assert all(g is None or torch.isfinite(g).all() for g in grads.values())
        trained = ("encoder.patch_embed.proj.weight", "decoder.dec_body_pose.weight", "decoder.dec_hand_root_pose.bias")
        for name in trained:
            assert grads[name] is not None and grads[name].abs().sum() > 0, name
    finally:
        model.zero_grad(set_to_none=True)


def test_autocast_bfloat16(model, images, inputs):
    targets, meta = inputs
    with torch.no_grad():
        full = total_loss(loss_terms(model, images, targets, meta))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            terms = loss_terms(model, images, targets, meta)
            total = total_loss(terms)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in terms.values())
    np.testing.assert_allclose(total.item(), full.item(), rtol=0.05)


def first(d: dict[str, torch.Tensor], n: int = 2) -> dict[str, torch.Tensor]:
    return {k: v[:n] for k, v in d.items()}


class Wrapper(nn.Module):
    """Stands in for a DDP-style wrapper: forwards every call to the wrapped module."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.calls = 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.module(*args, **kwargs)


def test_wrapped_model_and_ddp(model, images, inputs):
    targets, meta = inputs
    wrapped = Wrapper(model)
    with torch.no_grad():
        direct = loss_terms(model, images[:2], first(targets), first(meta))
        via = loss_terms(wrapped, images[:2], first(targets), first(meta))
    assert wrapped.calls == 1
    for key in direct:
        torch.testing.assert_close(via[key], direct[key], rtol=0, atol=0)

    dist = torch.distributed
    if not dist.is_available() or dist.is_initialized():
        pytest.skip("no torch.distributed, or a process group already exists")
    with tempfile.TemporaryDirectory() as tmp:
        dist.init_process_group("gloo", init_method=(Path(tmp) / "pg").as_uri(), rank=0, world_size=1)
        try:
            # Some decoder heads (hand/face cameras, face root) feed no loss, hence find_unused_parameters.
            ddp = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
            total = total_loss(loss_terms(ddp, images[:2], first(targets), first(meta)))
            total.backward()
            assert model.net.decoder.dec_body_pose.weight.grad.abs().sum() > 0
        finally:
            dist.destroy_process_group()
            model.zero_grad(set_to_none=True)
