"""Official config files are read as data, never executed."""

from __future__ import annotations

from pathlib import Path

import pytest

from smplestx.config import PRESETS, ConfigError, ModelConfig, load_official_config, preset, read_official_config


def test_reads_tiny_config(tiny_config):
    cfg = load_official_config(tiny_config)
    assert (cfg.encoder.embed_dim, cfg.encoder.depth, cfg.encoder.num_heads) == (64, 2, 4)
    assert (cfg.decoder.feat_dim, cfg.decoder.dim_out) == (64, 32)
    assert cfg.princpt == (96.0, 128.0) and cfg.bbox_ratio == 1.2
    assert abs(cfg.camera_depth_scale - 56.38) < 0.01


def test_reads_arithmetic_like_the_official_h_config(tmp_path: Path):
    path = tmp_path / "config_base.py"
    path.write_text(
        "import os\nconfig = {'model': {'encoder_config': {'embed_dim': 1280, 'depth': 32, 'num_heads': 16},"
        " 'decoder_config': {'feat_dim': 1280, 'dim_out': 512}, 'princpt': (192 / 2, 256 / 2)},"
        " 'data': {'bbox_ratio': 1.2, 'flag': True, 'none': None, 'neg': -1}}\n"
    )
    cfg = load_official_config(path)
    assert cfg == PRESETS["H"]
    assert read_official_config(path)["data"]["neg"] == -1


@pytest.mark.parametrize(
    "source",
    [
        "config = __import__('os').system('touch {marker}')",
        "config = {{'a': open('{marker}', 'w')}}",
        "config = {{'a': [x for x in ().__class__.__base__.__subclasses__()]}}",
        "import os\nos.system('touch {marker}')\nconfig = {{}}\n",
        "config = {{'a': (lambda: 1)}}",
    ],
)
def test_code_in_config_is_refused_and_never_run(tmp_path: Path, source: str):
    marker = tmp_path / "pwned"
    path = tmp_path / "config_base.py"
    path.write_text(source.format(marker=marker))
    with pytest.raises(ConfigError):
        load_official_config(path)
    assert not marker.exists()


def test_missing_and_broken_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        read_official_config(tmp_path / "nope.py")
    bad = tmp_path / "bad.py"
    bad.write_text("config = {")
    with pytest.raises(ConfigError, match="bad.py"):
        read_official_config(bad)
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(ConfigError, match="no `config"):
        read_official_config(tmp_path / "empty.py")


def test_presets_and_round_trip():
    assert preset("l").encoder.embed_dim == 1024 and preset("S").encoder.num_heads == 12
    with pytest.raises(ConfigError):
        preset("XL")
    for cfg in PRESETS.values():
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
