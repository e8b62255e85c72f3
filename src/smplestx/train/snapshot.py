"""Training snapshots: the official ``.pth.tar`` layout plus what an exact resume needs, written atomically.

A snapshot is ``{"epoch", "network", "optimizer"}`` exactly as the reference's ``Trainer.save_model`` writes it
(``network``: DataParallel-style ``module.``-prefixed keys without ``smplx_layer.*``; ``epoch``: the last
*completed* epoch, so the reference's ``start_over=False`` resumes at ``epoch + 1``), plus extra keys the
reference ignores: scheduler, grad scaler, iteration counters, the sampler position, every rank's RNG
states (as tensors, so ``torch.load(weights_only=True)`` reads the whole file) and the run's config.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.checkpoint import _torch_load, convert_checkpoint
from ..models.smplest_x import SMPLestXConfig
from ..io.atomic import atomic_path, write_text

log = logging.getLogger(__name__)

FORMAT = "smplestx-train-snapshot-1"
#: File in the checkpoint folder naming the newest snapshot (written last, atomically).
LATEST = "latest"


def network_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The network's state dict as the reference saves it: ``module.`` prefix, no body-model tensors."""
    return {f"module.{k}": v.detach() for k, v in net.state_dict().items() if not k.startswith("smplx_layer.")}


def capture_rng(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's RNG states (torch CPU, CUDA, numpy, python) as tensors."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, py_state, py_gauss = random.getstate()
    out = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": torch.tensor([pos, has_gauss], dtype=torch.int64),
        "numpy_gauss": torch.tensor([gauss], dtype=torch.float64),
        "python": torch.tensor((version, *py_state), dtype=torch.int64),
        "python_gauss": torch.tensor([float("nan") if py_gauss is None else py_gauss], dtype=torch.float64),
    }
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def restore_rng(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    pos, has_gauss = (int(v) for v in state["numpy_pos"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, float(state["numpy_gauss"][0])))
    py = [int(v) for v in state["python"]]
    gauss = float(state["python_gauss"][0])
    random.setstate((py[0], tuple(py[1:]), None if gauss != gauss else gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@dataclass
class ResumePoint:
    """Where a snapshot leaves off."""

    path: Path
    state: dict[str, Any]

    @property
    def iteration(self) -> int:
        """Optimizer steps done."""
        return int(self.state["iteration"])

    @property
    def resume_epoch(self) -> int:
        """The epoch to continue in."""
        return int(self.state["resume_epoch"])

    @property
    def epoch_iteration(self) -> int:
        """Batches of ``resume_epoch`` already done."""
        return int(self.state["epoch_iteration"])


def _atomic_torch_save(obj: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_snapshot(
    folder: Path,
    name: str,
    *,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    extra: dict[str, Any],
    model_config: SMPLestXConfig,
    safetensors: bool,
) -> Path:
    """Write ``folder/name.pth.tar`` (and ``name.safetensors`` if asked), then point ``latest`` at it."""
    path = folder / f"{name}.pth.tar"
    state = {
        # The last completed epoch (-1 inside the first), which is what the reference's "epoch" means.
        "epoch": int(extra["resume_epoch"]) - 1,
        "network": network_state(net),
        "optimizer": optimizer.state_dict(),
        "format": FORMAT,
        "model_config": json.dumps(model_config.to_dict()),
        **extra,
    }
    _atomic_torch_save(state, path)
    if safetensors:
        convert_checkpoint(path, folder / f"{name}.safetensors", config=model_config)
    write_text(folder / LATEST, path.name + "\n")
    log.info("wrote snapshot %s (iteration %d)", path, int(extra["iteration"]))
    return path


def read_snapshot(path: str | Path) -> ResumePoint:
    """Load a training snapshot written by :func:`write_snapshot` (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: snapshot not found")
    obj = _torch_load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(
            f"{path}: not a resumable smplestx training snapshot (an official or converted checkpoint can be "
            "used with model.finetune_from instead)"
        )
    return ResumePoint(path=path, state=obj)


def latest_snapshot(folder: Path) -> Path | None:
    """The snapshot ``folder/latest`` names, or None when the folder has none."""
    pointer = folder / LATEST
    if not pointer.is_file():
        return None
    path = folder / pointer.read_text(encoding="utf-8").strip()
    if not path.is_file():
        raise FileNotFoundError(f"{pointer} names {path.name}, which does not exist; pass model.finetune_from or remove {pointer}")
    return path


def snapshot_files(folder: Path, pattern: str) -> list[Path]:
    """Snapshot files in ``folder`` matching ``pattern`` (a regex with one number group), oldest first."""
    found = []
    for p in folder.glob("*.pth.tar"):
        m = re.fullmatch(pattern, p.name)
        if m:
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]
