"""Body models found once: argument, then $SMPLESTX_BODY_MODELS, then the user config file; one clear message."""

from __future__ import annotations

import pytest

from smplestx import user_config
from smplestx.user_config import BodyModelsNotFoundError, find_body_models


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    for key in ("SMPLESTX_BODY_MODELS", "SMPLESTX_CONFIG", "SMPLESTX_CACHE", "APPDATA"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdgcache"))
    return tmp_path


def _models(folder):
    (folder / "smplx").mkdir(parents=True)
    (folder / "smplx" / "SMPLX_NEUTRAL.npz").write_bytes(b"")
    return folder


def test_locations_follow_xdg(clean_env):
    assert user_config.config_path() == clean_env / "xdg" / "smplestx" / "config.toml"
    assert user_config.cache_dir() == clean_env / "xdgcache" / "smplestx"


def test_lookup_order(clean_env, monkeypatch):
    a, b, c = (_models(clean_env / n) for n in ("a", "b", "c"))
    cfg = user_config.config_path()
    cfg.parent.mkdir(parents=True)
    cfg.write_text('body_models = "../../c"\n')  # relative to the config file
    assert find_body_models().resolve() == c.resolve()
    monkeypatch.setenv("SMPLESTX_BODY_MODELS", str(b))
    assert find_body_models() == b
    assert find_body_models(a) == a


def test_one_message_when_missing(clean_env, monkeypatch):
    with pytest.raises(BodyModelsNotFoundError) as err:
        find_body_models()
    msg = str(err.value)
    assert "https://smpl-x.is.tue.mpg.de" in msg and "MODELS/smplx/SMPLX_NEUTRAL.npz" in msg
    assert "SMPLESTX_BODY_MODELS" in msg and str(user_config.config_path()) in msg
    monkeypatch.setenv("SMPLESTX_BODY_MODELS", str(clean_env / "empty"))
    with pytest.raises(BodyModelsNotFoundError, match=r"empty.*\$SMPLESTX_BODY_MODELS.*smpl-x\.is\.tue\.mpg\.de"):
        find_body_models()


def test_bad_config_file_names_itself(clean_env):
    cfg = user_config.config_path()
    cfg.parent.mkdir(parents=True)
    cfg.write_text("body_models = [unclosed\n")
    with pytest.raises(user_config.UserConfigError, match="config.toml: not a valid TOML"):
        find_body_models()


# Every command that takes --body-models, with arguments that reach the body-model lookup (nothing else is real).
_COMMANDS = {
    "infer": lambda d: ["infer", str(_png(d)), "--checkpoint", str(d / "x.safetensors"), "--output", str(d / "out")],
    "eval": lambda d: ["eval", "--benchmark", "synthetic", "--data-dir", str(d), "--checkpoint", str(d / "x.pth.tar")],
    "export": lambda d: ["export", str(d / "walk.tracks.npz")],
    "export-onnx": lambda d: ["export-onnx", str(d / "x.pth.tar"), str(d / "x.onnx")],
    "synthetic-media": lambda d: ["synthetic-media", str(d / "media.png")],
}


def _png(folder):
    import cv2
    import numpy as np

    path = folder / "photo.png"
    cv2.imwrite(str(path), np.zeros((16, 16, 3), np.uint8))
    return path


@pytest.mark.parametrize("source", ["environment", "config file"])
@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_every_command_finds_body_models_the_same_way(command, source, clean_env, monkeypatch, capsys):
    """$SMPLESTX_BODY_MODELS and the config file's body_models reach every command (here: an empty folder)."""
    from types import SimpleNamespace

    from smplestx.cli import main
    from smplestx.evaluate.benchmarks import Benchmark

    monkeypatch.setattr(Benchmark, "open", lambda self, data_dir: SimpleNamespace(close=lambda: None))
    empty = clean_env / "empty_models"
    empty.mkdir()
    if source == "environment":
        monkeypatch.setenv("SMPLESTX_BODY_MODELS", str(empty))
        named_by = "$SMPLESTX_BODY_MODELS"
    else:
        cfg = user_config.config_path()
        cfg.parent.mkdir(parents=True)
        cfg.write_text(f'body_models = "{empty.as_posix()}"\n')
        named_by = str(cfg)
    assert main(_COMMANDS[command](clean_env)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"no SMPLX_*.npz in {empty}" in err and f"(set by {named_by})" in err, err


def test_the_flag_wins_over_the_environment(clean_env, monkeypatch, capsys, synthetic_body):
    from smplestx.cli import main

    monkeypatch.setenv("SMPLESTX_BODY_MODELS", str(clean_env / "nowhere"))
    out = clean_env / "people.png"
    assert main(["synthetic-media", str(out), "--body-models", str(synthetic_body), "--people", "1",
                 "--width", "64", "--height", "48"]) == 0
    assert out.is_file()
    monkeypatch.setenv("SMPLESTX_BODY_MODELS", str(synthetic_body))  # and the environment alone is enough
    assert main(["synthetic-media", str(out), "--people", "1", "--width", "64", "--height", "48"]) == 0


def test_cache_folder_environment_then_config_file(clean_env, monkeypatch):
    assert user_config.cache_dir() == clean_env / "xdgcache" / "smplestx"
    cfg = user_config.config_path()
    cfg.parent.mkdir(parents=True)
    cfg.write_text('cache = "my_cache"\n')  # relative to the config file
    assert user_config.cache_dir() == cfg.parent / "my_cache"
    monkeypatch.setenv("SMPLESTX_CACHE", str(clean_env / "env_cache"))
    assert user_config.cache_dir() == clean_env / "env_cache"
    cfg.write_text("cache = 3\n")
    monkeypatch.delenv("SMPLESTX_CACHE")
    with pytest.raises(user_config.UserConfigError, match="cache must be a string path"):
        user_config.cache_dir()
