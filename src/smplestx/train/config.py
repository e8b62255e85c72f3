"""Typed training configs (data / model / train sections), read from TOML (or YAML) with strict checks and overrides.

Every training hyper-parameter of the reference ``config_base.py`` has a field here with the reference's default
(per-dataset sample intervals: the dataset registry's defaults, overridable here); the mapping is listed in
``docs/training.md``. Files are parsed as data, never executed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..models import BUILTIN, families, family_named, family_of_official_config
from ..models.config import (
    BBOX_RATIO,
    FOCAL,
    INPUT_BODY_SHAPE,
    INPUT_IMG_SHAPE,
    OUTPUT_HM_SHAPE,
    PRINCPT,
    ConfigError,
)
from .losses import LossWeights
from .losses_smpler_x import SMPLerXLossWeights

#: Stochastic-depth rate of the encoder while training, per size. H is the reference config's value; S/B/L
#: follow the ViTPose training recipes the encoders come from (the reference ships only the H config).
DROP_PATH_RATES: dict[str, float] = {"S": 0.1, "B": 0.3, "L": 0.5, "H": 0.55}

STRATEGIES = ("concat", "balance", "weighted")
AMP_MODES = ("none", "bf16", "fp16")
LOSS_MODES = ("corrected", "reference")


@dataclass
class DataConfig:
    """Which HumanData sets to train on and how to mix them."""

    datasets: list[str] = field(default_factory=lambda: ["SynHand"])  # registry names (reference trainset_humandata)
    data_dir: str = "./data"
    # Per-dataset overrides; a set not listed uses its registry default, which is the reference's
    # <Name>_train_sample_interval (BEDLAM 5, SynBody 10, ...; 1 for the others).
    sample_interval: dict[str, int] = field(default_factory=dict)
    strategy: str = "balance"  # reference data_strategy: concat | balance (| weighted, ours)
    total_data_len: int | str = 7_500_000  # samples per epoch for balance / weighted, or "auto"
    weights: dict[str, float] = field(default_factory=dict)  # per-dataset weights for strategy "weighted"
    bbox_ratio: float = BBOX_RATIO
    no_aug: bool = False
    rot_factor: float = 30.0  # in-plane rotation augmentation, degrees per standard deviation (the reference's 30)
    fix_reference_quirks: bool = False  # sample building: grid-bounded truncation, hand roots flipped with the image

    def interval(self, name: str) -> int | None:
        """The sample interval set for dataset ``name``, or None for its registry default."""
        return self.sample_interval.get(name)


@dataclass
class ModelSection:
    """The network to train: a family, a size preset (or an official config file) plus explicit overrides."""

    family: str = BUILTIN[0]  # a name of the family table (models/): smplest_x | smpler_x
    size: str = "H"  # SMPLest-X: S / B / L / H; SMPLer-X: S32 / B32 / L32 / H32 / H32* (a bare S/B/L/H means its 32)
    official_config: str | None = None  # a config_base.py (SMPLest-X) or config_smpler_x_*.py (SMPLer-X)
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float | None = None
    qkv_bias: bool | None = None
    task_tokens_num: int | None = None
    patch_size: int | None = None  # encoder patch side in pixels (the released models: 16)
    stem: str | None = None  # encoder patch embedding: "patch" (released) or "conv" (ViT-C, for training from scratch)
    feat_dim: int | None = None
    dim_out: int | None = None  # SMPLest-X only
    decoder_depth: int | None = None  # SMPLest-X only: decoder layers (the released model: 6)
    decoder_heads: int | None = None  # SMPLest-X only: decoder attention heads (8)
    decoder_dim_head: int | None = None  # SMPLest-X only: decoder head width (64)
    drop_path_rate: float | None = None  # None: DROP_PATH_RATES[size]
    input_img_shape: list[int] = field(default_factory=lambda: list(INPUT_IMG_SHAPE))
    input_body_shape: list[int] = field(default_factory=lambda: list(INPUT_BODY_SHAPE))
    output_hm_shape: list[int] = field(default_factory=lambda: list(OUTPUT_HM_SHAPE))
    focal: list[float] = field(default_factory=lambda: list(FOCAL))
    princpt: list[float] = field(default_factory=lambda: list(PRINCPT))
    camera_3d_size: float = 2.5
    body_3d_size: float = 2.0
    hand_3d_size: float = 0.3
    face_3d_size: float = 0.3
    body_models: str = "./human_models/human_model_files"  # reference human_model_path
    encoder_pretrained: str | None = None  # ViTPose checkpoint (reference encoder_pretrained_model_path)
    finetune_from: str | None = None  # checkpoint of the same family to start from (reference pretrained_model_path)
    finetune_start_over: bool = True  # reference start_over: False also restores optimizer and epoch
    freeze_encoder: bool = False
    freeze_blocks: int = 0  # freeze patch embedding, positions and the first N encoder blocks
    attention: str = "sdpa"
    grad_checkpointing: bool = False  # reference encoder_config.use_checkpoint


@dataclass
class TrainSection:
    """Optimisation, precision, snapshots and logging."""

    end_epoch: int = 20
    batch_size: int = 16  # per process (GPU); reference train_batch_size
    num_workers: int = 1  # reference num_thread
    lr: float = 1e-5
    min_lr: float = 1e-6  # eta_min of the per-iteration cosine schedule
    loss_weights: LossWeights = field(default_factory=LossWeights)  # the reference's *_weight entries (SMPLest-X)
    smpler_x_loss_weights: SMPLerXLossWeights | None = None  # SMPLer-X's; None = the SMPLer-X config's defaults
    hand_loss: bool = False  # SMPLest-X only
    loss_mode: str = "corrected"  # "reference" reproduces the reference's loss quirks
    grad_clip: float = 0.0  # max gradient norm; 0 = off (the reference does not clip)
    # SMPLest-X only, ours: weight of a training-only 2D heat-map head on the encoder's patch features (what a
    # ViTPose start gives the released encoder; for training from scratch). 0 = off, as the reference.
    aux_heatmap_weight: float = 0.0
    amp: str = "none"  # none | bf16 | fp16
    seed: int = 2023  # reference main/train.py set_seed(2023)
    save_every: int = 1  # epochs between snapshots (reference save_epoch); the last epoch is always saved
    save_every_steps: int = 0  # also write a resumable mid-epoch snapshot every N steps; 0 = off
    remove_old_snapshots: bool = False  # reference remove_checkpoint
    log_every: int = 100  # steps between log lines (reference print_iters)
    output_dir: str = "outputs/train"
    resume: bool = False  # continue from the newest snapshot in output_dir
    max_steps: int = 0  # stop (with a snapshot) after this many steps in total; 0 = run to end_epoch
    device: str = "auto"  # auto | cpu | cuda
    tensorboard: bool = True  # write TensorBoard events when torch.utils.tensorboard is importable
    progress: bool = True  # progress bar on rank 0 (only on a terminal)
    log_sample_indices: bool = False  # write the dataset indices of every batch, per rank


@dataclass
class TrainConfig:
    """A complete training run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainSection = field(default_factory=TrainSection)

    def model_config(self) -> Any:
        """The model config this run trains (preset or official config, then explicit overrides)."""
        return build_model_config(self.model, self.data.bbox_ratio)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (None values dropped, as TOML has no null)."""
        return _drop_none(dataclasses.asdict(self))

    def to_json(self) -> str:
        """The config as compact JSON (stored inside snapshots)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_toml(self) -> str:
        """The config as a TOML document that :func:`load_train_config` reads back unchanged."""
        return dump_toml(self.to_dict())


def _encoder_overrides(m: ModelSection, default_drop_path: bool) -> dict[str, Any]:
    """The encoder fields the section sets explicitly (drop path: the per-size rate unless an official config)."""
    keys = ("embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias", "task_tokens_num", "patch_size", "stem")
    over = {k: getattr(m, k) for k in keys}
    over = {k: v for k, v in over.items() if v is not None}
    if m.drop_path_rate is not None:
        over["drop_path_rate"] = m.drop_path_rate
    elif default_drop_path:
        over["drop_path_rate"] = DROP_PATH_RATES[m.size.upper()[:1]]
    return over


def _geometry(m: ModelSection, bbox_ratio: float) -> dict[str, Any]:
    """The crop and camera fields both families share (CropCamera)."""
    return dict(
        input_img_shape=tuple(m.input_img_shape),
        input_body_shape=tuple(m.input_body_shape),
        output_hm_shape=tuple(m.output_hm_shape),
        focal=tuple(float(v) for v in m.focal),
        princpt=tuple(float(v) for v in m.princpt),
        camera_3d_size=float(m.camera_3d_size),
        bbox_ratio=float(bbox_ratio),
    )


def build_model_config(m: ModelSection, bbox_ratio: float = BBOX_RATIO) -> Any:
    """Resolve a ModelSection into the model config of its family (the family's training adapter builds it)."""
    return training_adapter(m.family).build_model_config(m, bbox_ratio)


def training_adapter(family: str) -> types.ModuleType:
    """The training adapter module (train/family_*.py) of a family, as the family table names it."""
    import importlib

    return importlib.import_module(family_named(family).training)


# ---------------------------------------------------------------------------
# Building dataclasses from plain data, with type checks.


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [_drop_none(v) for v in obj]
    return obj


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _check(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to type ``tp`` or raise a ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        table = next((a for a in args if dataclasses.is_dataclass(a)), None)
        if table is not None and isinstance(value, Mapping):
            return _check(value, table, where)  # an optional section: its own errors (unknown key ...) stand
        # bool is an int in Python; try the exact-typed members first so "auto" stays a str and 3 stays an int.
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(value, arg, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # `lr = nan` would train to NaN weights, silently
                raise ConfigError(f"{where}: expected a finite number, got {value!r}")
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, item = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table of name = value, got {value!r}")
        return {str(k): _check(v, item, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table (section), got {value!r}")
        return _build(tp, value, where)
    raise ConfigError(f"{where}: unsupported field type {_type_name(tp)}")  # a bug in this module, not user input


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            name = f"{where}.{key}" if where else key
            raise ConfigError(f"unknown key '{name}' (known keys here: {', '.join(sorted(known))})")
    kwargs = {k: _check(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check value ranges and choices; raise ConfigError naming the field."""
    d, m, t = cfg.data, cfg.model, cfg.train
    if not d.datasets:
        raise ConfigError("data.datasets: list at least one dataset")
    if d.strategy not in STRATEGIES:
        raise ConfigError(f"data.strategy: {d.strategy!r} is not one of {', '.join(STRATEGIES)}")
    if isinstance(d.total_data_len, str) and d.total_data_len != "auto":
        raise ConfigError(f"data.total_data_len: expected a positive integer or \"auto\", got {d.total_data_len!r}")
    if isinstance(d.total_data_len, int) and d.total_data_len <= 0:
        raise ConfigError("data.total_data_len: must be positive (or \"auto\")")
    if d.strategy == "weighted":
        missing = [n for n in d.datasets if n not in d.weights]
        if missing:
            raise ConfigError(f"data.weights: strategy 'weighted' needs a weight for {', '.join(missing)}")
    if any(v < 1 for v in d.sample_interval.values()):
        raise ConfigError("data.sample_interval: intervals must be >= 1")
    if not 0.0 <= d.rot_factor <= 90.0:
        raise ConfigError(f"data.rot_factor: {d.rot_factor} must be between 0 and 90 degrees")
    _validate_family(cfg)
    if m.attention not in ("sdpa", "eager"):
        raise ConfigError(f"model.attention: {m.attention!r} is not one of sdpa, eager")
    if m.freeze_blocks < 0:
        raise ConfigError("model.freeze_blocks: must be >= 0")
    for name in ("end_epoch", "batch_size", "log_every", "save_every"):
        if getattr(t, name) < 1:
            raise ConfigError(f"train.{name}: must be >= 1")
    for name in ("num_workers", "save_every_steps", "max_steps"):
        if getattr(t, name) < 0:
            raise ConfigError(f"train.{name}: must be >= 0")
    if t.lr <= 0 or t.min_lr < 0:
        raise ConfigError("train.lr must be > 0 and train.min_lr >= 0")
    if t.grad_clip < 0:
        raise ConfigError("train.grad_clip: must be >= 0 (0 = off)")
    if not (math.isfinite(t.aux_heatmap_weight) and t.aux_heatmap_weight >= 0):
        raise ConfigError("train.aux_heatmap_weight: must be a finite number >= 0 (0 = off)")
    if t.amp not in AMP_MODES:
        raise ConfigError(f"train.amp: {t.amp!r} is not one of {', '.join(AMP_MODES)}")
    if t.loss_mode not in LOSS_MODES:
        raise ConfigError(f"train.loss_mode: {t.loss_mode!r} is not one of {', '.join(LOSS_MODES)}")
    cfg.model_config()  # architecture errors (width / heads) surface now, not after the data is loaded
    return cfg


def _validate_family(cfg: TrainConfig) -> None:
    """The model family (the table), its official config and size, then the fields that belong to one family only."""
    m, t = cfg.model, cfg.train
    table = families()
    if m.family not in table:
        raise ConfigError(f"model.family: {m.family!r} is not one of {', '.join(table)}")
    fam = table[m.family]
    if m.official_config and Path(m.official_config).is_file():
        other = family_of_official_config(m.official_config).name
        if other != m.family:
            raise ConfigError(f"model.official_config: {m.official_config} is a {other} config; set model.family = \"{other}\"")
    if not m.official_config and not fam.knows_size(m.size):
        raise ConfigError(f"model.size: unknown {m.family} size {m.size!r}; choose one of {', '.join(fam.presets)}")
    if t.aux_heatmap_weight and m.finetune_from and not m.finetune_start_over:
        raise ConfigError("train.aux_heatmap_weight: a run that continues a checkpoint's optimizer "
                          "(model.finetune_start_over = false) cannot add the heat-map head; set it to 0")
    training_adapter(m.family).validate(cfg)


# ---------------------------------------------------------------------------
# Files and overrides.


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: training config not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read training config ({exc})") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml  # optional: only used when installed
        except ImportError:
            raise ConfigError(f"{path}: YAML configs need PyYAML (pip install pyyaml), or write the config as TOML") from None
        try:
            data = yaml.safe_load(raw.decode("utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    else:
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table with [data], [model] and [train] sections")
    return data


def _parse_value(text: str) -> Any:
    """A TOML value (number, bool, string, list, inline table), else the text itself as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one ``section.key=value`` override to raw config data."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. train.lr=2e-5")
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {item!r}: '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = _parse_value(text.strip())


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> TrainConfig:
    """Build and validate a TrainConfig from plain data; errors name ``source``."""
    try:
        return validate(_build(TrainConfig, data, ""))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_train_config(path: str | Path | None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a TOML/YAML training config, apply ``--set`` overrides, check everything."""
    data: dict[str, Any] = _read_file(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "defaults"
    for item in overrides:
        try:
            apply_override(data, item)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return config_from_dict(data, source)


# ---------------------------------------------------------------------------
# A small TOML writer for the config types above (the stdlib only reads TOML).


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def dump_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """Write nested dicts as TOML: scalars first, then one ``[section]`` per sub-table."""
    lines: list[str] = []
    tables = []
    for k, v in data.items():
        if isinstance(v, dict) and (prefix == "" or k in ("loss_weights", "smpler_x_loss_weights")):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        out += f"\n[{name}]\n" + dump_toml(v, name)
    return out
