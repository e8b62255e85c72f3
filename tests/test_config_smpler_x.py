"""The SMPLer-X config: presets and the data-only reader of official config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from smplestx.models.config import ConfigError
from smplestx.models.smpler_x import SMPLerXConfig, is_smpler_x_config, load_smpler_x_config, smpler_x_preset

ENCODER = """
_base_ = ['../../_base_/default_runtime.py']
channel_cfg = dict(num_output_channels=17)
model = dict(
    type='TopDown',
    backbone=dict(type='ViT', img_size=(256, 192), patch_size=16, embed_dim=96, depth=3, num_heads=6,
                  ratio=1, mlp_ratio=4, qkv_bias=True, drop_path_rate=0.1),
    keypoint_head=dict(out_channels=channel_cfg['num_output_channels']),
)
data = dict(train=dict(ann_file=f'{1}/x.json', dataset_info={{_base_.dataset_info}}))
"""

MAIN = """
import os
input_body_shape = (256, 192)
princpt = (input_body_shape[1] / 2, input_body_shape[0] / 2)
feat_dim = 96
encoder_config_file = 'transformer_utils/enc.py'
output_dir, model_dir = None, None
"""


def _write(root: Path, main: str = MAIN, encoder: str = ENCODER) -> Path:
    (root / "transformer_utils").mkdir(parents=True, exist_ok=True)
    (root / "transformer_utils" / "enc.py").write_text(encoder)
    cfg_dir = root / "config"
    cfg_dir.mkdir(exist_ok=True)
    (cfg_dir / "config_smpler_x_x.py").write_text(main)
    return cfg_dir / "config_smpler_x_x.py"


def test_reads_checkout_layout(tmp_path):
    """encoder_config_file resolves against main/ (the parent of main/config/) as in a SMPLer-X checkout."""
    path = _write(tmp_path)
    assert is_smpler_x_config(path)
    cfg = load_smpler_x_config(path)
    assert (cfg.encoder.embed_dim, cfg.encoder.depth, cfg.encoder.num_heads, cfg.encoder.task_tokens_num) == (96, 3, 6, 31)
    assert cfg.encoder.drop_path_rate == 0.1 and cfg.feat_dim == 96 and cfg.princpt == (96.0, 128.0)


def test_code_in_a_needed_value_is_refused_not_run(tmp_path):
    marker = tmp_path / "ran"
    path = _write(tmp_path, MAIN.replace("feat_dim = 96", f"feat_dim = __import__('os').system('touch {marker}')"))
    with pytest.raises(ConfigError, match="feat_dim.*never executed"):
        load_smpler_x_config(path)
    assert not marker.exists()


def test_code_in_an_unused_value_is_ignored(tmp_path):
    path = _write(tmp_path, MAIN + "\nexp_name = open('/etc/passwd').read()\n")
    assert load_smpler_x_config(path).feat_dim == 96


def test_missing_encoder_config_names_the_file(tmp_path):
    path = _write(tmp_path, MAIN.replace("transformer_utils/enc.py", "nowhere/enc.py"))
    with pytest.raises(ConfigError, match="nowhere/enc.py.*not found"):
        load_smpler_x_config(path)


def test_presets_and_dict_round_trip():
    h = smpler_x_preset("H32")
    assert smpler_x_preset("h") == h == smpler_x_preset("H32*")
    assert (h.encoder.embed_dim, h.encoder.depth, h.encoder.num_heads, h.encoder.task_tokens_num) == (1280, 32, 16, 31)
    assert SMPLerXConfig.from_dict(h.to_dict()) == h
    with pytest.raises(ConfigError, match="S32"):
        smpler_x_preset("X")
    with pytest.raises(ConfigError, match="not an SMPLer-X config"):
        SMPLerXConfig.from_dict({**h.to_dict(), "family": "smplest_x"})


@pytest.mark.parametrize("name,millions", [("S32", 32.0), ("B32", 102.9), ("L32", 326.7), ("H32", 661.8)])
def test_preset_sizes_match_the_paper(name, millions):
    """Parameter counts of the released sizes (paper: 32M, 103M, 327M, 662M), built on the meta device."""
    import torch

    from smplestx.nn.smpler_x import SMPLerXNet

    with torch.device("meta"):
        net = SMPLerXNet(smpler_x_preset(name))
    assert abs(sum(p.numel() for p in net.parameters()) / 1e6 - millions) < 0.1


def test_a_trailing_statement_is_refused_with_its_line(tmp_path):
    marker = tmp_path / "ran"
    text = MAIN + f"__import__('os').system('touch {marker}')\n"
    path = _write(tmp_path, text)
    line = text.count("\n")
    with pytest.raises(ConfigError, match=rf"config_smpler_x_x\.py:{line}: a config file holds assignments only"):
        load_smpler_x_config(path)
    assert not marker.exists()


def test_a_refused_backbone_value_cites_its_own_line(tmp_path):
    """The error cites the line of the bad value (6), not the line where `model = dict(` starts (2)."""
    encoder = ("\nmodel = dict(\n    type='TopDown',\n    backbone=dict(\n        embed_dim=96,\n"
               "        depth=open('x'),\n        num_heads=6,\n    ),\n)\n")
    path = _write(tmp_path, encoder=encoder)
    with pytest.raises(ConfigError, match=r"enc\.py:6: only literal values"):
        load_smpler_x_config(path)


def test_parity_configs_still_load(parity_dir):
    """The official-format configs of the parity fixtures (imports, tuples, arithmetic) are still accepted."""
    cfg = load_smpler_x_config(parity_dir / "smpler_x_tiny" / "config_smpler_x_tiny.py")
    assert (cfg.feat_dim, cfg.encoder.embed_dim, cfg.encoder.depth, cfg.princpt) == (64, 64, 2, (96.0, 128.0))
