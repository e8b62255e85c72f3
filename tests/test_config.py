"""Official config files are read as data, never executed."""

from __future__ import annotations

from pathlib import Path

import pytest

from smplestx.models.config import ConfigError, read_official_config
from smplestx.models.smplest_x import SMPLEST_X_PRESETS, SMPLestXConfig, load_official_config, preset


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
    assert cfg == SMPLEST_X_PRESETS["H"]
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
    for cfg in SMPLEST_X_PRESETS.values():
        assert SMPLestXConfig.from_dict(cfg.to_dict()) == cfg


def test_a_trailing_statement_is_refused_with_its_line(tmp_path: Path):
    """A config holds assignments only: a call after them is an error naming the file and its line, never run."""
    marker = tmp_path / "ran"
    path = tmp_path / "config_base.py"
    path.write_text(f"import os\n\nconfig = {{'model': {{}}}}\n__import__('os').system('touch {marker}')\n")
    with pytest.raises(ConfigError, match=r"config_base\.py:4: a config file holds assignments only"):
        read_official_config(path)
    assert not marker.exists()


@pytest.mark.parametrize("statement", ["os.environ['X'] = '1'", "for i in range(3):\n    pass", "def f():\n    pass"])
def test_other_statements_are_refused(tmp_path: Path, statement: str):
    path = tmp_path / "config_base.py"
    path.write_text(f"import os\nconfig = {{}}\n{statement}\n")
    with pytest.raises(ConfigError, match=r"config_base\.py:3: a config file"):
        read_official_config(path)


def test_docstrings_imports_and_annotated_assignments_are_read(tmp_path: Path):
    path = tmp_path / "config_base.py"
    path.write_text('"""A config."""\nimport os.path as osp\nfrom os import sep\nsize: int = 2\nconfig = {"a": size}\n')
    assert read_official_config(path) == {"a": 2}


def test_a_refused_expression_cites_its_own_line(tmp_path: Path):
    """The error names the line of the bad value inside a multi-line dict, not the line where the dict starts."""
    path = tmp_path / "config_base.py"
    path.write_text("config = {\n    'model': {\n        'a': 1,\n        'b': open('x'),\n    },\n}\n")
    with pytest.raises(ConfigError, match=r"config_base\.py:4: only literal values"):
        read_official_config(path)
