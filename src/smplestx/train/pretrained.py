"""Starting weights for training: a ViTPose encoder, a checkpoint of either family to finetune, and freezing."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models import family_of_network
from ..models.checkpoint import IGNORED_KEYS, CheckpointError, _torch_load, check_state, checkpoint_family, read_checkpoint
from ..nn.network import PoseNetwork

log = logging.getLogger(__name__)

# ViTPose (mmpose) checkpoints name the encoder "backbone."; the reference loads them into its ViT without
# stripping that prefix, non-strictly, so no tensor is actually loaded. Here the prefix is mapped.
_VITPOSE_PREFIXES = ("module.backbone.", "backbone.", "module.encoder.", "encoder.")


@dataclass
class EncoderInitReport:
    """What loading a ViTPose checkpoint into the encoder did."""

    source: str
    loaded: list[str] = field(default_factory=list)  # encoder tensors taken from the file
    missing: list[str] = field(default_factory=list)  # encoder tensors the file lacks (kept at their init)
    mis_shaped: list[str] = field(default_factory=list)  # "name: file (..) vs encoder (..)", kept at their init
    skipped: list[str] = field(default_factory=list)  # file tensors that are not encoder tensors (e.g. keypoint_head.*)

    def summary(self) -> str:
        """One line for the log."""
        def few(items: list[str]) -> str:
            return ", ".join(items[:4]) + (f" (+{len(items) - 4} more)" if len(items) > 4 else "")

        parts = [f"encoder init from {self.source}: loaded {len(self.loaded)} tensors"]
        if self.missing:
            parts.append(f"{len(self.missing)} not in the file ({few(self.missing)})")
        if self.mis_shaped:
            parts.append(f"{len(self.mis_shaped)} with a different shape ({few(self.mis_shaped)})")
        if self.skipped:
            parts.append(f"{len(self.skipped)} file tensors skipped ({few(self.skipped)})")
        return "; ".join(parts)


def _vitpose_state(path: Path) -> dict[str, torch.Tensor]:
    obj: Any = _torch_load(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # mmpose / mmcv layout: {"meta", "state_dict", "optimizer"}
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: no weights found (expected a ViTPose checkpoint with a 'state_dict')")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def load_vitpose_encoder(encoder: nn.Module, path: str | Path) -> EncoderInitReport:
    """Copy the matching tensors of a ViTPose checkpoint into ``encoder``; report loaded/missing/mis-shaped/skipped."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: ViTPose checkpoint not found (model.encoder_pretrained)")
    state = _vitpose_state(path)
    own = encoder.state_dict()
    report = EncoderInitReport(source=str(path))
    take: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = next((key[len(p):] for p in _VITPOSE_PREFIXES if key.startswith(p)), None)
        if name is None and key in own:
            name = key  # a bare encoder state dict
        if name is None or name not in own:
            report.skipped.append(key)
            continue
        if tuple(value.shape) != tuple(own[name].shape):
            report.mis_shaped.append(f"{name}: file {tuple(value.shape)} vs encoder {tuple(own[name].shape)}")
            continue
        take[name] = value
    with torch.no_grad():
        for name, value in take.items():
            own[name].copy_(value.to(own[name].dtype))
    report.loaded = sorted(take)
    report.missing = sorted(k for k in own if k not in take and not any(m.startswith(k + ":") for m in report.mis_shaped))
    if not take:
        raise CheckpointError(
            f"{path}: no tensor of this file fits the encoder ({len(report.skipped)} skipped, "
            f"{len(report.mis_shaped)} mis-shaped): is it the ViTPose checkpoint of the same size as model.size?"
        )
    log.info(report.summary())
    return report


@dataclass
class FinetuneStart:
    """A checkpoint loaded into the network, plus its optimizer state and epoch when it has them."""

    source: str
    optimizer: dict[str, Any] | None
    epoch: int | None


def load_finetune(net: PoseNetwork, path: str | Path) -> FinetuneStart:
    """Load a checkpoint of ``net``'s family (official .pth.tar or safetensors) into ``net``, strictly."""
    path = Path(path)
    state, _ = read_checkpoint(path)
    family, wanted = checkpoint_family(state), family_of_network(net).name
    if family != wanted:
        raise CheckpointError(f"{path}: a {family} checkpoint, but the run trains {wanted} (model.finetune_from); "
                              f"set model.family = \"{family}\" or pick a {wanted} checkpoint")
    check_state(net, state, str(path))
    own = net.state_dict()
    with torch.no_grad():
        for key, value in state.items():
            if key in own:
                own[key].copy_(value.to(own[key].dtype))
    optimizer, epoch = None, None
    if path.suffix != ".safetensors":
        obj = _torch_load(path)
        if isinstance(obj, dict):
            optimizer = obj.get("optimizer") if isinstance(obj.get("optimizer"), dict) else None
            epoch = int(obj["epoch"]) if isinstance(obj.get("epoch"), int) else None
    loaded = sum(1 for k in state if k in own)
    log.info("finetuning from %s: %d tensors loaded (%s unused by the forward pass)", path, loaded, ", ".join(IGNORED_KEYS))
    return FinetuneStart(source=str(path), optimizer=optimizer, epoch=epoch)


def freeze(net: PoseNetwork, *, encoder: bool = False, blocks: int = 0) -> list[str]:
    """Stop gradients to the whole encoder, or to its stem and first ``blocks`` blocks; return the frozen names."""
    depth = len(net.encoder.blocks)
    if blocks > depth:
        raise ValueError(f"model.freeze_blocks = {blocks} but the encoder has only {depth} blocks")
    frozen = []
    for name, p in net.named_parameters():
        hit = False
        if encoder and name.startswith("encoder."):
            hit = True
        elif blocks and name.startswith(("encoder.patch_embed.", "encoder.pos_embed")):
            hit = True
        elif blocks and (m := re.match(r"encoder\.blocks\.(\d+)\.", name)) and int(m.group(1)) < blocks:
            hit = True
        if hit:
            p.requires_grad_(False)
            frozen.append(name)
    return frozen
