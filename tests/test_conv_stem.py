"""The convolutional encoder stem (ViT-C): same grid as the patchify conv, recorded in configs and weights files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from smplestx.models.config import ConfigError, EncoderConfig
from smplestx.models.smplest_x import SMPLestXConfig, SMPLEST_X_PRESETS
from smplestx.nn.vit import ConvStem, PatchEmbed, ViTEncoder


@pytest.mark.parametrize("shape", [(256, 192), (128, 96)])
def test_conv_stem_gives_the_patchify_grid(shape: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *shape)
    tokens, grid = ConvStem(64, 16)(x)
    ref_tokens, ref_grid = PatchEmbed(64, 16)(x)
    assert grid == ref_grid == (shape[0] // 16, shape[1] // 16)
    assert tokens.shape == ref_tokens.shape
    feat, _ = ViTEncoder(64, 1, 4, task_tokens_num=5, img_size=shape, stem="conv")(x)
    assert feat.shape == (2, 64, shape[0] // 16, shape[1] // 16)


def test_stem_is_checked_and_round_trips_through_metadata() -> None:
    with pytest.raises(ConfigError, match="stem 'cnn' is not one of patch, conv"):
        EncoderConfig(stem="cnn")
    with pytest.raises(ConfigError, match="power-of-two patch_size, got 12"):
        EncoderConfig(stem="conv", patch_size=12)
    # The released stem stays out of the metadata (files written before the field existed are unchanged) ...
    assert "stem" not in SMPLEST_X_PRESETS["S"].to_dict()["encoder"]
    assert SMPLestXConfig.from_dict(SMPLEST_X_PRESETS["S"].to_dict()).encoder.stem == "patch"
    # ... and a conv stem is recorded and read back.
    cfg = SMPLestXConfig(encoder=EncoderConfig(embed_dim=64, depth=1, num_heads=4, stem="conv"))
    assert cfg.to_dict()["encoder"]["stem"] == "conv"
    assert SMPLestXConfig.from_dict(cfg.to_dict()) == cfg


def test_conv_stem_weights_file_loads_back(tmp_path: Path, synthetic_body: Path) -> None:
    import json

    from smplestx.models.checkpoint import CONFIG_METADATA_KEY, build_network, write_safetensors
    from smplestx.models.smplest_x import DecoderConfig
    from smplestx.models.loading import load_model

    cfg = SMPLestXConfig(
        encoder=EncoderConfig(embed_dim=64, depth=1, num_heads=4, stem="conv"),
        decoder=DecoderConfig(feat_dim=64, dim_out=32, depth=1, heads=2, dim_head=16),
    )
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    path = tmp_path / "conv.safetensors"
    write_safetensors(net.state_dict(), path, {CONFIG_METADATA_KEY: json.dumps(cfg.to_dict()), "format": "pt"})
    model = load_model(path, body_models=synthetic_body, dtype="fp32")
    assert model.config.encoder.stem == "conv"
    crops = torch.rand(1, 3, 512, 384)
    with torch.no_grad():
        expected = net(crops).body_pose
    torch.testing.assert_close(model.predict_crops(crops).body_pose, expected)
