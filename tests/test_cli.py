"""The `smplestx` command: subcommands work and user errors are one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smplestx.cli import main


def test_convert_and_info(tiny_ckpt, tiny_config, tmp_path: Path, capsys):
    out = tmp_path / "tiny.safetensors"
    assert main(["convert", str(tiny_ckpt), str(out), "--config", str(tiny_config), "--dtype", "bf16"]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tensors"] == 157 and info["config"]["encoder"]["embed_dim"] == 64


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["convert", "/nonexistent/x.pth.tar", "/tmp/y.safetensors"], "not found"),
        (["info", "/nonexistent/x.pth.tar"], "not found"),
        (["infer", "x.mp4", "--checkpoint", "c", "--body-models", "b", "--smooth", "kalman"], "unknown smoothing"),
        (["infer", "x.mp4", "--checkpoint", "c", "--body-models", "b", "--fill-gaps", "-1"], "--fill-gaps"),
    ],
)
def test_user_errors_are_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_config_with_code_is_refused_on_the_command_line(tiny_ckpt, tmp_path: Path, capsys):
    marker = tmp_path / "pwned"
    cfg = tmp_path / "config_base.py"
    cfg.write_text(f"config = __import__('os').system('touch {marker}')\n")
    assert main(["convert", str(tiny_ckpt), str(tmp_path / "o.safetensors"), "--config", str(cfg)]) == 2
    assert "config" in capsys.readouterr().err and not marker.exists()
    assert not (tmp_path / "o.safetensors").exists()


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "smplestx", "--version"], capture_output=True, text=True, check=True)
    assert res.stdout.startswith("smplestx ")


def test_verbose_adds_the_traceback_to_a_user_error(capsys):
    assert main(["--verbose", "info", "/nonexistent/x.pth.tar"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("smplestx: error:") and "not found" in err


def test_a_bug_is_a_traceback_not_a_user_error(monkeypatch, capsys):
    import smplestx.models.checkpoint

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")  # a plain ValueError is not ours

    monkeypatch.setattr(smplestx.models.checkpoint, "read_checkpoint", broken)
    assert main(["info", "whatever.safetensors"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "broadcast" in err and "internal error" in err and "smplestx: error:" not in err


def test_package_errors_share_one_base():
    from smplestx.models.checkpoint import CheckpointError
    from smplestx.models.config import ConfigError
    from smplestx.data.humandata import HumanDataError, HumanDataKeyError
    from smplestx.errors import SmplestxError, UsageError
    from smplestx.io.results import ResultsFileError
    from smplestx.pipeline.sources import MediaError

    for cls in (CheckpointError, ConfigError, HumanDataError, HumanDataKeyError, MediaError, ResultsFileError, UsageError):
        assert issubclass(cls, SmplestxError) and issubclass(cls, ValueError), cls


def test_option_errors_are_one_line(tmp_path: Path, capsys):
    assert main(["synthetic-data", str(tmp_path / "d"), "--num", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "smplestx: error: synthetic-data: argument --num: 0 must be >= 1"


def _parsers():
    import argparse

    from smplestx.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [("smplestx", parser), *sub.choices.items()]


def test_help_states_every_default():
    """Every argument with a value by default says that value in its --help (None / False: nothing to state)."""
    import argparse

    unstated = []
    for name, parser in _parsers():
        formatter = parser._get_formatter()
        for action in parser._actions:
            d = action.default
            if d is None or d is False or d is argparse.SUPPRESS or (isinstance(d, list) and not d):
                continue
            text = formatter._expand_help(action)  # exactly the text --help prints for it
            if "default" not in text.lower() or str(d).lstrip("./") not in text:
                unstated.append(f"{name} {'/'.join(action.option_strings) or action.dest}: {text!r} (default {d!r})")
    assert not unstated, "\n".join(unstated)


def test_infer_help_shows_the_numbers(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: nothing wrapped mid-phrase
    assert main(["infer", "--help"]) == 0
    out = capsys.readouterr().out
    for phrase in ("crops per network batch (default: 16)", "minimum detector score (default: 0.5)",
                   "are merged (default: 0.5)", "(default: auto)"):
        assert phrase in out, phrase
