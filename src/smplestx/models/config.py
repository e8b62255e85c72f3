"""What every family's config shares: checks and bounds, the encoder and crop-camera configs, precisions, and the one
data-only reader of official config files. Each family's own config lives in its module (smplest_x.py, smpler_x.py)."""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import SmplestxError

#: Model geometry of the released SMPLest-X / SMPLer-X configs: the crop geometry's one home is geometry/crops.py.
from ..geometry.crops import BBOX_RATIO, BODY_BOX_RATIO_FACTOR, FOCAL, INPUT_BODY_SHAPE, INPUT_IMG_SHAPE, PRINCPT  # noqa: E402,F401

OUTPUT_HM_SHAPE: tuple[int, int, int] = (16, 16, 12)  # heat-map grid (D, H, W)
#: Precision names (CLI, conversion, AMP) -> torch dtype; the one such map in the package.
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: The reverse map, torch dtype -> its name.
DTYPE_NAMES: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}


class ConfigError(SmplestxError, ValueError):
    """A config file or value that cannot be used."""


#: Upper bounds of a sane model config: a hostile file cannot make the network allocate without bound.
#: The largest released size is H (1280 wide, 32 deep, 16 heads); these leave ample room above it.
CONFIG_LIMITS: dict[str, int] = {"embed_dim": 8192, "depth": 256, "num_heads": 256, "task_tokens_num": 4096,
                                 "patch_size": 256, "img_size": 8192, "feat_dim": 8192, "dim_out": 8192}


def check_int(name: str, value: Any, low: int = 1, high: int | None = None) -> None:
    """Raise ConfigError unless value is an int in [low, high] (high defaults to CONFIG_LIMITS[name])."""
    high = CONFIG_LIMITS.get(name, 1 << 20) if high is None else high
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} = {value!r} must be an integer")
    if not low <= value <= high:
        raise ConfigError(f"{name} = {value} must be between {low} and {high}")


def check_number(name: str, value: Any, low: float = 0.0, high: float = 1e9, *, low_allowed: bool = False) -> None:
    """Raise ConfigError unless value is a finite number above low (or equal to it when allowed) and <= high."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} = {value!r} must be a finite number")
    if value < low or (not low_allowed and value == low) or value > high:
        raise ConfigError(f"{name} = {value} must be {'>=' if low_allowed else '>'} {low} and <= {high}")


def check_shape(name: str, value: Any, n: int, high: int = 8192) -> None:
    """Raise ConfigError unless value is a tuple of n integers in [1, high]."""
    if not isinstance(value, tuple) or len(value) != n:
        raise ConfigError(f"{name} = {value!r} must be {n} integers")
    for v in value:
        check_int(name, v, 1, high)


def check_geometry(cfg: Any) -> None:
    """Validate the camera and crop geometry shared by both families' configs."""
    check_shape("input_img_shape", cfg.input_img_shape, 2)
    check_shape("input_body_shape", cfg.input_body_shape, 2)
    check_shape("output_hm_shape", cfg.output_hm_shape, 3, 1024)
    for name in ("focal", "princpt"):
        value = getattr(cfg, name)
        if not isinstance(value, tuple) or len(value) != 2:
            raise ConfigError(f"{name} = {value!r} must be 2 numbers")
        for v in value:
            check_number(name, v, 0.0, low_allowed=name != "focal")
    check_number("camera_3d_size", cfg.camera_3d_size)
    check_number("bbox_ratio", cfg.bbox_ratio, high=100.0)


#: Patch embeddings an encoder may have (nn.vit.STEMS).
ENCODER_STEMS = ("patch", "conv")


@dataclass(frozen=True)
class EncoderConfig:
    """ViT encoder sizes (ViTPose naming)."""

    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    task_tokens_num: int = 80
    img_size: tuple[int, int] = INPUT_BODY_SHAPE
    patch_size: int = 16
    drop_path_rate: float = 0.0
    stem: str = "patch"  # "patch": the released 16x16 patchify conv; "conv": a convolutional stem (ViT-C)

    def __post_init__(self) -> None:
        """Refuse sizes that are wrong or would exhaust memory, before anything is built."""
        for name in ("embed_dim", "depth", "num_heads", "task_tokens_num", "patch_size"):
            check_int(name, getattr(self, name))
        if self.stem not in ENCODER_STEMS:
            raise ConfigError(f"encoder stem {self.stem!r} is not one of {', '.join(ENCODER_STEMS)}")
        if self.stem == "conv" and self.patch_size & (self.patch_size - 1):
            raise ConfigError(f"a convolutional stem needs a power-of-two patch_size, got {self.patch_size}")
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"embed_dim = {self.embed_dim} is not divisible by num_heads = {self.num_heads}")
        check_number("mlp_ratio", self.mlp_ratio, high=64.0)
        check_number("drop_path_rate", self.drop_path_rate, high=1.0, low_allowed=True)
        check_shape("img_size", self.img_size, 2)


@dataclass(frozen=True)
class CropCamera:
    """What both families share: the crop and body-input shapes, the heat-map grid, the virtual camera, the box ratio."""

    input_img_shape: tuple[int, int] = INPUT_IMG_SHAPE
    input_body_shape: tuple[int, int] = INPUT_BODY_SHAPE
    output_hm_shape: tuple[int, int, int] = OUTPUT_HM_SHAPE
    focal: tuple[float, float] = FOCAL
    princpt: tuple[float, float] = PRINCPT
    camera_3d_size: float = 2.5
    bbox_ratio: float = BBOX_RATIO

    def __post_init__(self) -> None:
        """Refuse non-finite or out-of-range geometry when the config is made."""
        check_geometry(self)

    @property
    def camera_depth_scale(self) -> float:
        """k in t_z = k * sigmoid(c_z): sqrt(fx * fy * s^2 / (H * W))."""
        h, w = self.input_body_shape
        return math.sqrt(self.focal[0] * self.focal[1] * self.camera_3d_size**2 / (h * w))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-safe) for safetensors metadata."""
        data = asdict(self)
        if data.get("encoder", {}).get("stem") == "patch":
            # The default stem is left out, so every file written before the field existed keeps its metadata.
            del data["encoder"]["stem"]
        return data


# ---------------------------------------------------------------------------
# Official config_base.py files, read as data.

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


#: Deepest expression nesting the config reader evaluates: real configs nest a few levels, a hostile
#: 30,000-term sum would otherwise exhaust the interpreter's stack.
MAX_LITERAL_DEPTH = 64


def parse_config_file(path: str | Path) -> ast.Module:
    """Parse a Python config file into its syntax tree (never run); every failure is a one-line ConfigError."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    try:
        return ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not a valid Python config file ({exc.msg})") from None
    except (RecursionError, MemoryError):
        # The parser's own recursion: e.g. a 30,000-term sum.
        raise ConfigError(f"{path}: expressions nested too deeply to read; write values as plain numbers") from None


class _Unreadable:
    """Stands for a value the evaluator does not support; an error only if that value is needed."""

    def __init__(self, where: str) -> None:
        self.where = where


class _LiteralReader:
    """Reads literal expressions as data: constants, containers, +-*/ on numbers, names bound by earlier
    assignments, ``dict(...)`` and subscripts. Nothing is executed; anything else is unreadable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env: dict[str, Any] = {}
        self.depth = 0

    def value_of(self, node: ast.AST) -> Any:
        """Value of ``node``, or an _Unreadable marker citing the line of the part that cannot be read."""
        try:
            return self._eval(node)
        except _Stop as stop:
            return _Unreadable(f"{self.path}:{stop.lineno or getattr(node, 'lineno', '?')}: {stop.args[0]}")

    def _eval(self, node: ast.AST) -> Any:
        # Bounded nesting: a hostile 30,000-term sum must not exhaust the interpreter's stack.
        if self.depth >= MAX_LITERAL_DEPTH:
            raise _Stop(f"expression nested deeper than {MAX_LITERAL_DEPTH} levels; write the value as a plain number")
        self.depth += 1
        try:
            return self._eval_node(node)
        except _Stop as stop:
            # The innermost node that failed names the line: a bad value deep in a dict is cited where it is.
            stop.lineno = stop.lineno or getattr(node, "lineno", None)
            raise
        finally:
            self.depth -= 1

    def _eval_node(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self._eval(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise _Stop("'**' unpacking is not supported")
            return {self._eval(k): self._eval(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            if any(kw.arg is None for kw in node.keywords):
                raise _Stop("'**' unpacking is not supported")
            return {kw.arg: self._eval(kw.value) for kw in node.keywords}
        if isinstance(node, ast.Name):
            if node.id not in self.env or isinstance(self.env[node.id], _Unreadable):
                raise _Stop(f"name {node.id!r} is not a readable value defined above")
            return self.env[node.id]
        if isinstance(node, ast.Subscript):
            base, index = self._eval(node.value), self._eval(node.slice)
            try:
                return base[index]
            except (KeyError, IndexError, TypeError) as exc:
                raise _Stop(f"bad subscript ({exc!r})") from None
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self._eval(node.left), self._eval(node.right)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)):
                raise _Stop("arithmetic is only supported on numbers")
            try:
                return _BINOPS[type(node.op)](left, right)
            except ArithmeticError as exc:  # 1/0, float overflow
                raise _Stop(f"cannot compute {ast.unparse(node)[:60]} ({exc})") from None
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            value = self._eval(node.operand)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise _Stop("sign only on numbers")
            return _UNARY[type(node.op)](value)
        raise _Stop(f"only literal values are allowed in a config file (found {type(node).__name__})")

    def run(self, tree: ast.Module) -> dict[str, Any]:
        """Bind every top-level ``name = value`` and ``a, b = x, y``; imports and docstrings are skipped.

        Any other statement (a call, a loop, a function) is refused: a config file holds assignments only,
        and a statement that would run when the file is imported must not pass unnoticed.
        """
        for stmt in tree.body:
            if _is_inert(stmt):
                continue
            if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                stmt = ast.Assign(targets=[stmt.target], value=stmt.value, lineno=stmt.lineno)
            if not isinstance(stmt, ast.Assign):
                raise ConfigError(f"{self.path}:{stmt.lineno}: a config file holds assignments only; remove this "
                                  f"{type(stmt).__name__} statement ({_first_line(stmt)})")
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    self.env[target.id] = self.value_of(stmt.value)
                elif isinstance(target, ast.Tuple) and all(isinstance(t, ast.Name) for t in target.elts):
                    value = self.value_of(stmt.value)
                    names = [t.id for t in target.elts]  # type: ignore[attr-defined]
                    if isinstance(value, (tuple, list)) and len(value) == len(names):
                        self.env.update(zip(names, value))
                    else:
                        for name in names:
                            self.env[name] = _Unreadable(f"{self.path}:{stmt.lineno}: cannot unpack")
                else:  # `os.environ["X"] = ...` would change something when run: not a config value
                    raise ConfigError(f"{self.path}:{stmt.lineno}: a config file assigns to plain names only "
                                      f"({_first_line(stmt)})")
        return self.env


def _first_line(stmt: ast.stmt) -> str:
    return ast.unparse(stmt).splitlines()[0][:60]


def _is_inert(stmt: ast.stmt) -> bool:
    """Imports (never run: nothing reads them), ``pass`` and bare string literals (docstrings, comments)."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Pass)):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


class _Stop(Exception):
    """Internal: the expression uses something the evaluator does not support."""

    lineno: int | None = None


def read_assignments(path: str | Path) -> dict[str, Any]:
    """Top-level assignments of a Python config file, evaluated as data (never executed)."""
    path = Path(path)
    return _LiteralReader(path).run(parse_config_file(path))


def read_official_config(path: str | Path) -> dict[str, Any]:
    """Parse an official ``config_base.py`` (``config = {...}``) without executing it."""
    path = Path(path)
    # Imports and docstrings are tolerated and ignored: nothing in the file is ever run.
    env = read_assignments(path)
    if "config" not in env:
        raise ConfigError(f"{path}: no `config = {{...}}` assignment found")
    config = env["config"]
    if isinstance(config, _Unreadable):
        raise ConfigError(f"{config.where}; config files are read as data, never executed")
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: `config` must be a dict literal")
    return config
