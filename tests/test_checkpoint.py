"""Checkpoint loading: safety, strictness, key mapping, size inference and safetensors conversion."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from smplestx.models.checkpoint import (
    CheckpointError,
    convert_checkpoint,
    infer_config,
    load_network,
    read_checkpoint,
)
from smplestx.models.config import EncoderConfig
from smplestx.models.smplest_x import SMPLEST_X_PRESETS, DecoderConfig, SMPLestXConfig
from smplestx.nn.network import SMPLestXNet


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_is_refused_and_nothing_runs(tmp_path: Path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth.tar"
    with open(path, "wb") as f:
        pickle.dump({"network": {"x": _Evil(str(marker))}}, f)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    # The same object inside a regular torch zip archive.
    zpath = tmp_path / "evil_zip.pth.tar"
    torch.save({"epoch": 0, "network": {"module.encoder.x": _Evil(str(marker))}}, zpath)
    with pytest.raises(CheckpointError, match="refused"):
        load_network(zpath)
    assert not marker.exists()


def test_official_snapshot_loads_and_ignores_optimizer(tiny_ckpt):
    state, stored = read_checkpoint(tiny_ckpt)
    assert stored is None
    assert len(state) == 159 and all(not k.startswith("module.") for k in state)
    assert "decoder.transformer.to_token_embedding.weight" in state


def _tiny_state(tiny_ckpt) -> dict[str, torch.Tensor]:
    return torch.load(tiny_ckpt, map_location="cpu", weights_only=True)["network"]


def test_strict_loading_lists_every_problem(tiny_ckpt, tiny_config, tmp_path: Path):
    state = _tiny_state(tiny_ckpt)
    del state["module.encoder.blocks.1.mlp.fc2.bias"]
    state["module.decoder.extra_head.weight"] = torch.zeros(3)
    state["module.decoder.dec_body_cam.weight"] = torch.zeros(4, 32)
    path = tmp_path / "broken.pth.tar"
    torch.save({"epoch": 0, "network": state}, path)
    with pytest.raises(CheckpointError) as err:
        load_network(path, tiny_config)
    msg = str(err.value)
    assert "broken.pth.tar" in msg
    assert "encoder.blocks.1.mlp.fc2.bias" in msg and "decoder.extra_head.weight" in msg
    assert "dec_body_cam.weight" in msg and "(4, 32)" in msg


def test_wrong_config_is_an_error_not_a_half_random_model(tiny_ckpt):
    with pytest.raises(CheckpointError, match="does not match"):
        load_network(tiny_ckpt, SMPLEST_X_PRESETS["S"])


def test_unknown_width_without_config_asks_for_it(tiny_ckpt):
    with pytest.raises(CheckpointError, match="--config"):
        load_network(tiny_ckpt)


def test_prefix_and_legacy_renames_and_missing_unused_tensor(tiny_ckpt, tiny_config, tmp_path: Path, forward_case):
    state = _tiny_state(tiny_ckpt)
    renamed = {}
    for k, v in state.items():
        k = k.replace("module.encoder.", "backbone.") if k.startswith("module.encoder.") else k.replace("module.", "")
        renamed[k] = v
    renamed.pop("decoder.transformer.to_token_embedding.weight")
    renamed.pop("decoder.transformer.to_token_embedding.bias")
    renamed["smplx_layer.v_template"] = torch.zeros(3)  # body-model buffers are ignored
    path = tmp_path / "legacy.pth"
    torch.save(renamed, path)
    net = load_network(path, tiny_config)
    with torch.no_grad():
        out = net(torch.from_numpy(forward_case["img"][:1]))
    np.testing.assert_allclose(out.transl.numpy(), forward_case["cam_trans"][:1], atol=1e-4)


def test_infer_config_for_released_sizes():
    for name in ("S", "B"):
        cfg = SMPLEST_X_PRESETS[name]
        with torch.device("meta"):
            net = SMPLestXNet(cfg)
        assert infer_config(net.state_dict()) == cfg


def test_convert_round_trip_is_identical(tiny_ckpt, tiny_config, tmp_path: Path, forward_case):
    out = tmp_path / "tiny.safetensors"
    convert_checkpoint(tiny_ckpt, out, config=tiny_config)
    state, stored = read_checkpoint(out)
    assert stored is not None and stored.encoder.num_heads == 4
    a, b = load_network(tiny_ckpt, tiny_config), load_network(out)  # no config needed any more
    img = torch.from_numpy(forward_case["img"])
    with torch.no_grad():
        oa, ob = a(img), b(img)
    for name in ("img_feat", "global_orient", "body_pose", "transl", "betas"):
        assert torch.equal(getattr(oa, name), getattr(ob, name)), name
    assert not list(tmp_path.glob(".*"))  # no temporaries left behind


@pytest.mark.parametrize("dtype,torch_dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_convert_half_precision(tiny_ckpt, tiny_config, tmp_path: Path, dtype, torch_dtype, forward_case, parity_body):
    """Half-precision weights, run in float32, give the fp32 network's poses and joints within their rounding."""
    from precision_helpers import assert_predictions_close

    from smplestx.body import BodyModel
    from smplestx.models.smplest_x import SMPLestX

    out = tmp_path / f"tiny_{dtype}.safetensors"
    convert_checkpoint(tiny_ckpt, out, config=tiny_config, dtype=dtype)
    state, _ = read_checkpoint(out)
    assert all(v.dtype == torch_dtype for v in state.values())
    assert out.stat().st_size < (tiny_ckpt.stat().st_size / 4)
    body = BodyModel.from_dir(parity_body, "neutral")
    crops = torch.from_numpy(forward_case["img"])
    low = SMPLestX(load_network(out, dtype=torch.float32), body).predict_crops(crops)
    full = SMPLestX(load_network(tiny_ckpt, tiny_config), body).predict_crops(crops)
    # Measured on the tiny model: fp16 weights move joints 0.5 mm on average (max 1.5), rotation entries 0.003,
    # the translation 3 mm; bf16 (8 mantissa bits) 2.4 mm (max 7.6), 0.05 and 12 mm. Bounds leave ~2.5x room.
    bounds = {"fp16": dict(joints_mm=(1.5, 5.0), rot=0.01, transl_m=0.01),
              "bf16": dict(joints_mm=(6.0, 20.0), rot=0.15, transl_m=0.04)}[dtype]
    assert_predictions_close(low, full, **bounds, body=body)


def test_bad_inputs(tmp_path: Path, tiny_ckpt):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "missing.pth.tar")
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth.tar"):
        read_checkpoint(junk)
    junk_st = tmp_path / "junk.safetensors"
    junk_st.write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        read_checkpoint(junk_st)
    with pytest.raises(CheckpointError, match=".safetensors"):
        convert_checkpoint(tiny_ckpt, tmp_path / "out.bin")
    with pytest.raises(CheckpointError, match="dtype"):
        convert_checkpoint(tiny_ckpt, tmp_path / "out.safetensors", dtype="int8")


def test_custom_config_object_builds_matching_network():
    cfg = SMPLestXConfig(encoder=EncoderConfig(embed_dim=32, depth=1, num_heads=2), decoder=DecoderConfig(feat_dim=32, dim_out=8))
    net = SMPLestXNet(cfg).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 512, 384))
    assert out.body_pose.shape == (2, 21, 3) and out.img_feat.shape == (2, 32, 16, 12)
    assert out.task_tokens.shape == (2, 80, 32) and out.transl.shape == (2, 3)
    assert torch.all(out.transl[:, 2] > 0)
