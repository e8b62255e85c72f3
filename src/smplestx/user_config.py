"""Per-user settings: the config file, the cache folder, and where the licensed SMPL-X files live.

Lookup order for the body models: an explicit argument, then ``$SMPLESTX_BODY_MODELS``, then
``body_models = "..."`` in the user config file (``$SMPLESTX_CONFIG``, else
``$XDG_CONFIG_HOME/smplestx/config.toml``, ``~/.config/smplestx/config.toml``, or
``%APPDATA%\\smplestx\\config.toml`` on Windows). The cache folder alike: ``$SMPLESTX_CACHE``, then
``cache = "..."`` in the config file, then the platform's cache folder. Relative paths in the file are
relative to the file.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from .errors import SmplestxError

log = logging.getLogger(__name__)

BODY_MODELS_ENV = "SMPLESTX_BODY_MODELS"
CONFIG_ENV = "SMPLESTX_CONFIG"
CACHE_ENV = "SMPLESTX_CACHE"
SMPLX_SITE = "https://smpl-x.is.tue.mpg.de"

#: The one message for missing licensed SMPL-X files: where to get them, which layout, how to point at them.
BODY_MODELS_HELP = (
    "the SMPL-X body model files are licensed and not shipped: register and download "
    f"'SMPL-X v1.1 (NPZ)' at {SMPLX_SITE}, then lay them out as MODELS/smplx/SMPLX_NEUTRAL.npz "
    "(SMPLX_MALE.npz and SMPLX_FEMALE.npz too for evaluation) and point smplestx at MODELS once: "
    f"--body-models MODELS, or export {BODY_MODELS_ENV}=MODELS, or body_models = \"MODELS\" in {{config}}. "
    "To try smplestx without them: `smplestx demo`"
)


class BodyModelsNotFoundError(FileNotFoundError):
    """The licensed SMPL-X files are not where any setting says (or no setting names them)."""


class UserConfigError(SmplestxError, ValueError):
    """A user config file that cannot be read; the message names the file."""


def config_path() -> Path:
    """The user config file's path (it may not exist)."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "smplestx" / "config.toml"


def cache_dir() -> Path:
    """smplestx's own cache folder (verification records, converted weights); not created here."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    configured = _config_file_path("cache")
    if configured is not None:
        return configured
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "smplestx" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smplestx"


def _toml_loads(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)


def read_user_config(path: Path | None = None) -> dict[str, Any]:
    """The user config file as a dict ({} when there is none)."""
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        return _toml_loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserConfigError(f"{path}: not a valid TOML file ({exc}); fix or delete it") from None


def _config_file_path(key: str) -> Path | None:
    """A path setting of the user config file (relative to the file), or None when the file does not set it."""
    path = config_path()
    value = read_user_config(path).get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserConfigError(f"{path}: {key} must be a string path, got {value!r}")
    # A relative path in the config file means relative to the file, not to wherever the user runs.
    return path.parent / Path(value).expanduser()


def body_models_setting(explicit: str | Path | None = None) -> tuple[Path | None, str]:
    """The configured body-models folder and which setting named it (None, 'nothing' when none did)."""
    if explicit:
        return Path(explicit).expanduser(), "--body-models"
    if os.environ.get(BODY_MODELS_ENV):
        return Path(os.environ[BODY_MODELS_ENV]).expanduser(), f"${BODY_MODELS_ENV}"
    configured = _config_file_path("body_models")
    if configured is not None:
        return configured, str(config_path())
    return None, "nothing"


def find_body_models(explicit: str | Path | None = None) -> Path:
    """The folder holding ``smplx/SMPLX_*.npz`` per the lookup order, or one clear error saying how to get it."""
    # Imported here so `smplestx.models.zoo` (and `doctor`) do not pull in torch through the body package.
    from .body.model_files import BodyModelFileError, resolve_model_dir

    folder, source = body_models_setting(explicit)
    help_text = BODY_MODELS_HELP.format(config=config_path())
    if folder is None:
        raise BodyModelsNotFoundError(f"no SMPL-X body models configured; {help_text}")
    try:
        resolve_model_dir(folder)
    except BodyModelFileError:
        raise BodyModelsNotFoundError(
            f"no SMPLX_*.npz in {folder} or {folder / 'smplx'} (set by {source}); {help_text}"
        ) from None
    log.info("body models: %s (from %s)", folder, source)
    return folder
