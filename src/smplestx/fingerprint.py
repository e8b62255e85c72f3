"""Short content fingerprints of files and weights: to tell whether a resumed run still uses the same inputs.

Reading every byte of an 8 GB checkpoint to resume a run would cost more than the check is worth, so the
fingerprints sample: a file's size plus evenly spaced blocks of its bytes, a model's tensor names, shapes,
dtypes and evenly spaced elements of every tensor. Two different trainings, a finetune of the same
weights, or a replaced body model differ in the sampled values with near certainty.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch

_FILE_BLOCKS = 64
_BLOCK = 64 * 1024
_TENSOR_SAMPLES = 4096


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """``blake2b`` of the size and up to 64 evenly spaced 64 KiB blocks (the whole file when small)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with open(p, "rb") as fh:
        if size <= _FILE_BLOCKS * _BLOCK:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        else:
            step = (size - _BLOCK) // (_FILE_BLOCKS - 1)
            for k in range(_FILE_BLOCKS):
                fh.seek(k * step)
                h.update(fh.read(_BLOCK))
    return h.hexdigest()


def folder_fingerprint(path: str | os.PathLike[str], pattern: str = "*") -> str:
    """The fingerprints of the files of a folder tree (names relative to it), in sorted order."""
    root = Path(path)
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(p for p in root.rglob(pattern) if p.is_file()):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(file_fingerprint(f).encode())
    return h.hexdigest()


def weights_fingerprint(state: Mapping[str, torch.Tensor] | torch.nn.Module) -> str:
    """``blake2b`` of every tensor's name, shape and dtype and up to 4096 evenly spaced values (as float64)."""
    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(state):
        value = state[name]
        # torch's dynamically quantised linears (int8-fbgemm) keep (weight, bias) tuples of quantised tensors.
        parts = [(name, value)] if isinstance(value, torch.Tensor) else \
            [(f"{name}.{i}", v) for i, v in enumerate(value if isinstance(value, (tuple, list)) else (value,))]
        for key, t in parts:
            if not isinstance(t, torch.Tensor):
                h.update(f"{key}:{t!r}".encode())
                continue
            t = t.detach()
            if t.is_quantized:
                t = t.dequantize()
            h.update(f"{key}:{tuple(t.shape)}:{t.dtype}".encode())
            flat = t.reshape(-1)
            if flat.numel() > _TENSOR_SAMPLES:
                idx = torch.linspace(0, flat.numel() - 1, _TENSOR_SAMPLES, device=flat.device).long()
                flat = flat[idx]
            h.update(flat.to("cpu", torch.float64).numpy().tobytes())
    return h.hexdigest()


def body_model_fingerprint(body: torch.nn.Module) -> str:
    """:func:`weights_fingerprint` of a body model's arrays as float32, whatever precision it was loaded in."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in body.state_dict().items()}
    return weights_fingerprint(state)


def model_identity(model: torch.nn.Module) -> dict:
    """What a model's outputs depend on: its weights (content, not path), config and body model.

    Any module works (a test oracle, a user's own network): what it lacks is left out, its weights still count.
    """
    net = getattr(model, "net", model)
    path = getattr(net, "path", None)  # an ONNX Runtime network: the graph file is its weights
    weights = file_fingerprint(path) if path is not None and Path(path).is_file() else weights_fingerprint(net)
    out: dict = {"weights": weights}
    config = getattr(net, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        out["config"] = config.to_dict()
    body = getattr(model, "body", None)
    if isinstance(body, torch.nn.Module):
        out["body_model"] = weights_fingerprint(body)
    return out
