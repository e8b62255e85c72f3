"""Process-group set-up from torchrun's environment, and the rank-sharded, resumable batch sampler."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global rank, world size, rank on its node, and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on the process that writes snapshots and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer (set by torchrun)") from None


def pick_device(device: str, local_rank: int) -> torch.device:
    """Resolve "auto" / "cpu" / "cuda" / "cuda:N" to this process's device (one GPU per local rank)."""
    from ..models.loading import pick_device as check_device  # the one check of device names and availability

    device = "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    device = check_device(device)
    if device == "cuda":
        n = torch.cuda.device_count()
        if local_rank >= n:
            raise ValueError(f"local rank {local_rank} has no GPU ({n} visible): start at most {n} processes per node")
        return torch.device("cuda", local_rank)
    return torch.device(device)


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), if any.

    NCCL on CUDA, gloo on CPU. Without torchrun's variables this is a single process (rank 0 of 1).
    """
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    dev = pick_device(device, local_rank)
    if world > 1 and not (dist.is_available() and dist.is_initialized()):
        if not dist.is_available():
            raise RuntimeError("this torch build has no torch.distributed support")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        # Rank 0 writes snapshots while the others wait in a barrier: allow for a slow (network) file system.
        dist.init_process_group(backend=backend, device_id=dev if dev.type == "cuda" else None, timeout=timedelta(minutes=60))
        log.info("rank %d/%d (local %d) joined the %s process group on %s", rank, world, local_rank, backend, dev)
    elif dev.type == "cuda":
        torch.cuda.set_device(dev)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def shutdown_distributed() -> None:
    """Leave the process group (no-op when not in one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if info.distributed:
        if info.device.type == "cuda":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


def mean_over_ranks(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average scalar values over all ranks (identity for one process)."""
    if not info.distributed or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    t /= info.world_size
    return dict(zip(values, t.tolist()))


class ShardedBatchSampler(Sampler[list[int]]):
    """Per-rank batches of a per-epoch shuffle, disjoint across ranks, resumable at any batch.

    The order is DistributedSampler's: one permutation of the whole dataset per epoch (seeded by ``seed`` and
    the epoch, identical on every rank), padded by wrapping around to a multiple of the world size, and rank r
    takes every world_size-th index starting at r. Batches of ``batch_size`` with the remainder dropped, as the
    reference's ``drop_last=True`` loader. ``set_position(k)`` skips the first k batches (resume mid-epoch).
    """

    def __init__(self, length: int, batch_size: int, *, rank: int = 0, world_size: int = 1, seed: int = 0, shuffle: bool = True) -> None:
        if length <= 0:
            raise ValueError("the training set is empty")
        if batch_size <= 0:
            raise ValueError("batch size must be positive")
        self.length = length
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.position = 0
        self.per_rank = math.ceil(length / world_size)
        if self.per_rank < batch_size:
            raise ValueError(
                f"{length} samples over {world_size} process(es) give {self.per_rank} per process, fewer than "
                f"one batch of {batch_size}: lower train.batch_size or add data"
            )

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's shuffle (call before iterating, on every rank)."""
        self.epoch = epoch

    def set_position(self, batches_done: int) -> None:
        """Start the next iteration after ``batches_done`` batches of the current epoch."""
        self.position = batches_done

    def rank_indices(self) -> list[int]:
        """This rank's dataset indices for the current epoch, in order."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        total = self.per_rank * self.world_size
        while len(order) < total:
            order += order[: total - len(order)]
        return order[self.rank : total : self.world_size]

    def batches(self) -> list[list[int]]:
        """All full batches of this rank for the current epoch (ignoring the position)."""
        idx = self.rank_indices()
        return [idx[i * self.batch_size : (i + 1) * self.batch_size] for i in range(len(self))]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.position :]

    def __len__(self) -> int:
        return self.per_rank // self.batch_size
