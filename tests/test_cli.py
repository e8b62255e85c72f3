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
