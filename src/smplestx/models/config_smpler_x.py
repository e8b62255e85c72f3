"""SMPLer-X model configs: the typed config, the S32/B32/L32/H32 presets, and a data-only reader of its config files.

An official SMPLer-X config is a Python module of top-level assignments (``main/config/config_smpler_x_*.py``)
that names an mmpose-style encoder config (``encoder_config_file``); both are parsed with ``ast`` and
read by the house's one literal reader (``config.read_assignments``). Nothing in them is executed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import ConfigError, CropCamera, EncoderConfig, _Unreadable, check_int, check_shape, parse_config_file, read_assignments

#: Name of this family in configs, safetensors metadata and ``smplestx info``.
FAMILY = "smpler_x"


@dataclass(frozen=True)
class SMPLerXConfig(CropCamera):
    """Everything needed to build the SMPLer-X network and map its outputs to the crop camera.

    Shapes are (H, W) or (D, H, W) as in the reference config; the crop camera is SMPLest-X's (``CropCamera``).
    """

    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(task_tokens_num=31))
    feat_dim: int = 1280
    upscale: int = 4
    output_hand_hm_shape: tuple[int, int, int] = (16, 16, 16)
    input_hand_shape: tuple[int, int] = (256, 256)
    input_face_shape: tuple[int, int] = (192, 192)
    family: str = FAMILY

    def __post_init__(self) -> None:
        """Refuse non-finite or out-of-range sizes and geometry when the config is made."""
        super().__post_init__()
        check_int("feat_dim", self.feat_dim)
        check_int("upscale", self.upscale, 1, 64)
        check_shape("output_hand_hm_shape", self.output_hand_hm_shape, 3, 1024)
        check_shape("input_hand_shape", self.input_hand_shape, 2)
        check_shape("input_face_shape", self.input_face_shape, 2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SMPLerXConfig":
        """Inverse of to_dict; unknown keys are an error."""
        tup = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
        try:
            enc = EncoderConfig(**{k: tup(v) for k, v in data.get("encoder", {}).items()})
            rest = {k: tup(v) for k, v in data.items() if k != "encoder"}
            if rest.get("family", FAMILY) != FAMILY:
                raise ConfigError(f"not an SMPLer-X config (family {rest['family']!r})")
            return cls(encoder=enc, **rest)
        except TypeError as exc:
            raise ConfigError(f"invalid SMPLer-X config: {exc}") from None


def _preset(dim: int, depth: int, heads: int) -> SMPLerXConfig:
    return SMPLerXConfig(encoder=EncoderConfig(embed_dim=dim, depth=depth, num_heads=heads, task_tokens_num=31), feat_dim=dim)


#: The released SMPLer-X sizes (ViTPose S/B/L/H encoders, trained on 32 datasets); H32* has H32's shapes.
SMPLER_X_PRESETS: dict[str, SMPLerXConfig] = {
    "S32": _preset(384, 12, 12),
    "B32": _preset(768, 12, 12),
    "L32": _preset(1024, 24, 16),
    "H32": _preset(1280, 32, 16),
    "H32*": _preset(1280, 32, 16),
}


def smpler_x_preset(name: str) -> SMPLerXConfig:
    """Return the SMPLer-X preset for S32, B32, L32, H32 or H32* (a bare S/B/L/H means its 32 variant)."""
    key = name.upper()
    key = key + "32" if key in ("S", "B", "L", "H") else key
    try:
        return SMPLER_X_PRESETS[key]
    except KeyError:
        raise ConfigError(f"unknown SMPLer-X size {name!r}; choose one of {', '.join(SMPLER_X_PRESETS)}") from None


# ---------------------------------------------------------------------------
# Official config files, read as data.


def _get(env: dict[str, Any], key: str, path: Path, default: Any = ConfigError) -> Any:
    value = env.get(key, default)
    if value is ConfigError:
        raise ConfigError(f"{path}: missing `{key}`")
    if isinstance(value, _Unreadable):
        raise ConfigError(f"{value.where} (`{key}` must be a literal value; config files are read as data, never executed)")
    return value


def is_smpler_x_config(path: str | Path) -> bool:
    """True when the file is an SMPLer-X main config (it names an ``encoder_config_file``)."""
    try:
        tree = parse_config_file(path)
    except ConfigError:
        return False  # the official reader reports it
    return any(
        isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "encoder_config_file" for t in s.targets)
        for s in tree.body
    )


def _find_encoder_config(main: Path, name: str) -> Path:
    """The encoder config named in ``main``: beside it, or relative to ``main/`` of a SMPLer-X checkout."""
    candidates = [main.parent / name, main.parent.parent / name]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(
        f"{main}: encoder_config_file {name!r} not found (looked in {', '.join(str(c.parent) for c in candidates)}); "
        "put the encoder config there or fix the path"
    )


def _ints(value: Any, n: int, key: str, path: Path) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise ConfigError(f"{path}: `{key}` must be a sequence of {n} numbers")
    return tuple(int(v) for v in value)


def load_smpler_x_config(path: str | Path) -> SMPLerXConfig:
    """Read an official SMPLer-X config (and its encoder config) as data and return the SMPLerXConfig."""
    path = Path(path)
    env = read_assignments(path)
    enc_path = _find_encoder_config(path, str(_get(env, "encoder_config_file", path)))
    enc_env = read_assignments(enc_path)
    model = _get(enc_env, "model", enc_path)
    backbone = model.get("backbone") if isinstance(model, dict) else None
    if not isinstance(backbone, dict):
        raise ConfigError(f"{enc_path}: no `model = dict(backbone=dict(...))` found")
    if isinstance(bad := next((v for v in backbone.values() if isinstance(v, _Unreadable)), None), _Unreadable):
        raise ConfigError(f"{bad.where} (model.backbone must hold literal values)")
    try:
        encoder = EncoderConfig(
            embed_dim=int(backbone["embed_dim"]),
            depth=int(backbone["depth"]),
            num_heads=int(backbone["num_heads"]),
            mlp_ratio=float(backbone.get("mlp_ratio", 4)),
            qkv_bias=bool(backbone.get("qkv_bias", True)),
            # The reference's main config has num_task_token = 24, never read: the ViT default 31 applies.
            task_tokens_num=int(backbone.get("task_tokens_num", 31)),
            img_size=_ints(backbone.get("img_size", (256, 192)), 2, "img_size", enc_path),  # type: ignore[arg-type]
            patch_size=int(backbone.get("patch_size", 16)),
            drop_path_rate=float(backbone.get("drop_path_rate", 0.0)),
        )
    except ConfigError as exc:
        raise ConfigError(f"{enc_path}: model.backbone: {exc}") from None
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{enc_path}: bad model.backbone ({exc!r})") from None
    kw: dict[str, Any] = {"encoder": encoder, "feat_dim": int(_get(env, "feat_dim", path, encoder.embed_dim))}
    for key, n in (("input_img_shape", 2), ("input_body_shape", 2), ("output_hm_shape", 3), ("output_hand_hm_shape", 3),
                   ("input_hand_shape", 2), ("input_face_shape", 2)):
        if key in env:
            kw[key] = _ints(_get(env, key, path), n, key, path)
    for key in ("focal", "princpt"):
        if key in env:
            value = _get(env, key, path)
            kw[key] = tuple(float(v) for v in _ints_or_floats(value, key, path))
    for key in ("camera_3d_size", "bbox_ratio"):
        if key in env:
            kw[key] = float(_get(env, key, path))
    try:
        if "upscale" in env:
            kw["upscale"] = int(_get(env, "upscale", path))
        return replace(SMPLerXConfig(), **kw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{path}: bad value ({exc!r})") from None


def _ints_or_floats(value: Any, key: str, path: Path) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(isinstance(v, (int, float)) for v in value):
        raise ConfigError(f"{path}: `{key}` must be two numbers")
    return float(value[0]), float(value[1])
