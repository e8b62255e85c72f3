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
