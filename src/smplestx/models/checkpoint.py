"""Official ``.pth.tar`` and safetensors checkpoints: safe loading, key mapping, strict checks, conversion."""

from __future__ import annotations

import json
import logging
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from torch import nn

from ..errors import SmplestxError
from ..io.atomic import atomic_path
from . import families, family_of_config, family_of_official_config, family_of_state, is_model_config
from . import config_from_dict as table_config_from_dict
from .config import DTYPES, ConfigError, EncoderConfig

#: A typed model config of any registered family (``models.family_of_config`` says which).
AnyConfig = Any

log = logging.getLogger(__name__)

#: Key of the safetensors metadata entry that holds the model config as JSON.
CONFIG_METADATA_KEY = "smplestx_config"
#: Key of the metadata entry naming the body model a network was trained with (JSON: fingerprint, seed, how to make it).
BODY_METADATA_KEY = "smplestx_body_model"
#: Saved by the official decoder but never used by its forward pass.
IGNORED_KEYS = ("decoder.transformer.to_token_embedding.weight", "decoder.transformer.to_token_embedding.bias")


class CheckpointError(SmplestxError, ValueError):
    """A checkpoint that cannot be loaded safely or does not fit the model."""


def _pickle_detail(exc: BaseException) -> str:
    """The line of torch's refusal that says what was refused, without its advice to disable the check."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # torch leads with "Re-running torch.load with weights_only set to False will likely succeed": never
    # pass that on (it runs the file's code); the specific reason is on a later line.
    useful = [ln for ln in lines if "weights_only" not in ln and not ln.startswith(("Weights only load failed", "Check the documentation"))]
    return useful[0] if useful else "unsupported content"


def _torch_load(path: Path) -> object:
    """torch.load restricted to tensors and plain containers; memory-mapped when possible."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: the file contains objects other than tensors and plain data "
            f"(only weights are read, no code is run): {_pickle_detail(exc)}"
        ) from None
    except RuntimeError as exc:
        if "mmap" in str(exc) or "zip" in str(exc).lower():
            # Legacy (non-zip) torch files cannot be memory-mapped.
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as exc2:
                raise CheckpointError(f"{path}: refused to load: not a plain weights file ({_pickle_detail(exc2)})") from None
            except Exception as exc2:  # noqa: BLE001 - any failure here means an unreadable file
                raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc2})") from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc})") from None
    except (EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc})") from None


def map_official_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip DDP ``module.`` prefixes, apply the families' legacy renames (their rows), drop body-model buffers."""
    out: dict[str, torch.Tensor] = {}
    renames = [pair for fam in families().values() for pair in fam.key_renames]  # before detection: every family's
    for key, value in state.items():
        k = re.sub(r"^(module\.)+", "", key)
        for old, new in renames:
            k = k.replace(old, new)
        if k.startswith("smplx_layer."):
            continue
        out[k] = value
    return out


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], AnyConfig | None]:
    """Read network weights (mapped keys) and the stored config (safetensors metadata, our snapshots' entry)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (give the path of the official .pth.tar or a converted .safetensors)")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
        config = None
        if CONFIG_METADATA_KEY in meta:
            try:
                config = config_from_dict(json.loads(meta[CONFIG_METADATA_KEY]))
            except (json.JSONDecodeError, ConfigError) as exc:
                raise CheckpointError(f"{path}: corrupt model config in metadata ({exc})") from None
        return map_official_keys(state), config
    obj = _torch_load(path)
    if isinstance(obj, dict) and isinstance(obj.get("network"), dict):
        state = obj["network"]  # the official {'epoch', 'network', 'optimizer'} snapshot
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state = obj["state_dict"]
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = obj
    else:
        raise CheckpointError(f"{path}: no network weights found (expected a dict with a 'network' state dict)")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: non-tensor entries in the state dict: {bad[:5]}")
    config = None
    if isinstance(obj, dict) and isinstance(obj.get("model_config"), str):  # our trainer's snapshots carry it
        try:
            config = config_from_dict(json.loads(obj["model_config"]))
        except (json.JSONDecodeError, ConfigError) as exc:
            raise CheckpointError(f"{path}: corrupt model_config entry ({exc})") from None
    return map_official_keys(state), config


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a safetensors file (empty for other formats or a file without any)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return {}
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


def check_body_model(checkpoint: str | Path, body: torch.nn.Module, folder: str | Path) -> None:
    """Refuse a body model other than the one the weights were trained with, when their metadata names one."""
    meta = read_metadata(checkpoint)
    if BODY_METADATA_KEY not in meta:
        return
    from ..fingerprint import body_model_fingerprint

    try:
        wanted = json.loads(meta[BODY_METADATA_KEY])
        expected, how = str(wanted["fingerprint"]), str(wanted["made_by"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{checkpoint}: corrupt {BODY_METADATA_KEY} metadata ({exc!r})") from None
    actual = body_model_fingerprint(body)
    if actual != expected:
        raise CheckpointError(
            f"{Path(checkpoint).name} was trained with the body model that `{how}` writes (fingerprint {expected}), "
            f"not the one in {folder} (fingerprint {actual}); pass the folder that command writes as the body models"
        )


def infer_config(state: dict[str, torch.Tensor], source: str = "checkpoint") -> AnyConfig:
    """Work out the family (the table) and model size from tensor shapes; heads come from the matching preset."""
    return family_of_state(state).infer_config(state, source)


def infer_encoder(state: dict[str, torch.Tensor], source: str, family: str, presets: dict[str, Any], sizes: str,
                   config_file: str) -> EncoderConfig:
    """The ViT encoder's sizes from tensor shapes (both families); heads come from the preset of that width."""
    try:
        dim = state["encoder.pos_embed"].shape[-1]
        tokens = state["encoder.task_tokens"].shape[1]
        fc1 = state["encoder.blocks.0.mlp.fc1.weight"].shape[0]
    except KeyError as exc:
        raise CheckpointError(f"{source}: not an {family} checkpoint (missing {exc.args[0]})") from None
    heads = {p.encoder.embed_dim: p.encoder.num_heads for p in presets.values()}.get(dim)
    if heads is None:
        raise CheckpointError(
            f"{source}: {family} encoder width {dim} matches no released size ({sizes}), so the number of "
            f"attention heads cannot be inferred; pass the model's {config_file} (--config)"
        )
    return EncoderConfig(
        embed_dim=dim,
        depth=len({k.split(".")[2] for k in state if k.startswith("encoder.blocks.")}),
        num_heads=heads,
        mlp_ratio=fc1 / dim,
        qkv_bias="encoder.blocks.0.attn.qkv.bias" in state,
        task_tokens_num=tokens,
    )


def check_config_fits(cfg: AnyConfig, state: dict[str, torch.Tensor], source: str) -> None:
    """Compare a declared config's encoder sizes with the tensors before building anything.

    Building first would let a small file declare a network of any size (``depth: 100000`` takes
    minutes and gigabytes even on the meta device); the tensors bound what can be real.
    """
    enc = cfg.encoder
    blocks = {k.split(".")[2] for k in state if k.startswith("encoder.blocks.") and k.count(".") >= 3}
    pos = state.get("encoder.pos_embed")
    problems = []
    if len(blocks) != enc.depth:
        problems.append(f"depth {enc.depth} but {len(blocks)} encoder blocks")
    if pos is not None and pos.shape[-1] != enc.embed_dim:
        problems.append(f"embed_dim {enc.embed_dim} but encoder.pos_embed width {pos.shape[-1]}")
    if problems:
        raise CheckpointError(
            f"{source}: the model config does not match the weights ({'; '.join(problems)}). "
            "Is the config (--config) the one this checkpoint was trained with?"
        )


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError naming the first tensors holding NaN or infinity (they would give NaN results)."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise CheckpointError(f"{source}: corrupt weights: NaN or infinite values in {', '.join(bad[:3])}{more}")


def check_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError listing every missing, unexpected and mis-shaped tensor."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state) - set(IGNORED_KEYS))
    unexpected = sorted(set(state) - set(expected) - set(IGNORED_KEYS))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    if not (missing or unexpected or shapes):
        return

    def show(title: str, items: list[str]) -> str:
        more = f" ... and {len(items) - 8} more" if len(items) > 8 else ""
        return f"{title} ({len(items)}): {', '.join(items[:8])}{more}" if items else ""

    parts = [show("missing", missing), show("unexpected", unexpected), show("wrong shape", shapes)]
    raise CheckpointError(
        f"{source}: checkpoint does not match the model ({'; '.join(p for p in parts if p)}). "
        "Is the config (--config) the one this checkpoint was trained with?"
    )


def resolve_config(
    state: dict[str, torch.Tensor], stored: AnyConfig | None, config: str | Path | AnyConfig | None, source: str
) -> AnyConfig:
    """Pick the config: an explicit one, else the stored one, else inferred from shapes."""
    if is_model_config(config):
        return config
    if config is not None:
        return load_any_config(config)
    if stored is not None:
        return stored
    return infer_config(state, source)


def read_checked(
    path: str | Path, config: str | Path | AnyConfig | None = None
) -> tuple[dict[str, torch.Tensor], AnyConfig, nn.Module]:
    """A checkpoint's tensors, its config and its network built on the meta device, after every check: the config
    fits the tensors (before building), the keys match the network's exactly, and no tensor holds NaN or infinity."""
    state, stored = read_checkpoint(path)
    cfg = resolve_config(state, stored, config, str(path))
    check_config_fits(cfg, state, str(path))
    with torch.device("meta"):
        net = build_network(cfg)
    check_state(net, state, str(path))
    check_finite(state, str(path))
    return state, cfg, net


def load_network(
    checkpoint: str | Path,
    config: str | Path | AnyConfig | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """Build the network for a checkpoint and load its weights strictly; eval mode."""
    state, cfg, net = read_checked(checkpoint, config)
    expected = net.state_dict()
    state = {k: v for k, v in state.items() if k in expected}
    for key in IGNORED_KEYS:
        # Unused by the forward pass: a checkpoint without it is still complete.
        if key in expected:
            state.setdefault(key, torch.zeros(expected[key].shape))
    # Only float tensors take the dtype: BatchNorm step counters (SMPLer-X) stay int64.
    net.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, strict=True, assign=True)
    return net.to(device=device, dtype=dtype).eval()


def write_safetensors(tensors: dict[str, torch.Tensor], out: Path, metadata: dict[str, str]) -> None:
    """Write tensors with string metadata as a safetensors file, atomically (never a half-written file)."""
    from safetensors.torch import save_file

    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def convert_checkpoint(
    src: str | Path, dst: str | Path, *, config: str | Path | AnyConfig | None = None, dtype: str = "fp32"
) -> AnyConfig:
    """Write the network weights of ``src`` to ``dst`` (safetensors) with the config in its metadata."""
    if dtype not in DTYPES:
        raise CheckpointError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise CheckpointError(f"{dst}: output must end in .safetensors")
    state, cfg, _ = read_checked(src, config)
    tensors = {
        k: (v.to(DTYPES[dtype]) if v.is_floating_point() else v).contiguous() for k, v in state.items() if k not in IGNORED_KEYS
    }
    meta = {CONFIG_METADATA_KEY: json.dumps(cfg.to_dict()), "format": "pt", "source": Path(src).name, "dtype": dtype}
    write_safetensors(tensors, dst, meta)
    log.info("wrote %s (%d tensors, %s)", dst, len(tensors), dtype)
    return cfg


# ---------------------------------------------------------------------------
def checkpoint_family(state: dict[str, torch.Tensor]) -> str:
    """The name of the family a (mapped) state dict belongs to (the family table decides)."""
    return family_of_state(state).name


def config_from_dict(data: dict[str, object]) -> AnyConfig:
    """Inverse of any family's ``to_dict`` (its ``family`` key picks the family; absent: SMPLest-X)."""
    if not isinstance(data, dict) or not all(isinstance(data.get(k, {}), dict) for k in ("encoder", "decoder")):
        raise ConfigError("the model config must be a JSON object with 'encoder' / 'decoder' objects")
    return table_config_from_dict(data)


def load_any_config(path: str | Path) -> AnyConfig:
    """Read an official config of any family as data (the family table tells which family wrote it)."""
    return family_of_official_config(path).load_official_config(path)


def build_network(cfg: AnyConfig) -> nn.Module:
    """The network of the config's family (attention and checkpointing are set on it afterwards)."""
    return family_of_config(cfg).network(cfg)


def save_network(net: nn.Module, dst: str | Path, *, source: str = "smplestx") -> Path:
    """Write a built network's weights and config as safetensors, the same file `convert` writes."""
    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise CheckpointError(f"{dst}: output must end in .safetensors")
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()
               if k not in IGNORED_KEYS}
    meta = {CONFIG_METADATA_KEY: json.dumps(net.config.to_dict()), "format": "pt", "source": source, "dtype": "fp32"}
    write_safetensors(tensors, dst, meta)
    return dst
