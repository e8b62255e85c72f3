"""Splitting a long list of inputs or test samples across processes and machines: which share is this process's.

A share comes from ``--shard I/N``, from ``torchrun`` (``RANK`` / ``WORLD_SIZE``) or from a SLURM
job array (``SLURM_ARRAY_TASK_ID`` / ``SLURM_ARRAY_TASK_COUNT`` / ``SLURM_ARRAY_TASK_MIN``). Every
process computes the same assignment from the same input list, so no process talks to another:
inputs are weighed by their number of frames (a video of 10,000 frames weighs 10,000 images) and
dealt out longest first to the lightest share (LPT), ties broken by path. Used by ``infer`` (inputs
weighed by frames) and ``eval`` (test samples, equal weights).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import SmplestxError

log = logging.getLogger(__name__)


class ShardError(SmplestxError, ValueError):
    """A shard specification or launcher environment that does not make sense."""


@dataclass(frozen=True)
class Shard:
    """This process's share: ``index`` in ``[0, count)``, and where the numbers came from."""

    index: int = 0
    count: int = 1
    origin: str = "single"  # single | --shard | torchrun | slurm

    @property
    def is_split(self) -> bool:
        """True when the inputs are shared with other processes."""
        return self.count > 1

    @property
    def tag(self) -> str:
        """The suffix of this shard's summary file name, e.g. ``shard-0003-of-0016``."""
        return f"shard-{self.index:04d}-of-{self.count:04d}"


def parse_shard(text: str) -> Shard:
    """``"I/N"`` (0-based I) -> :class:`Shard`; a one-line error otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if m is None:
        raise ShardError(f"--shard {text!r}: expected I/N, e.g. 0/4 for the first of four shares")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or index >= count:
        raise ShardError(f"--shard {text!r}: need 0 <= I < N (shares are numbered from 0)")
    return Shard(index, count, "--shard")


def _int_env(env: Mapping[str, str], key: str) -> int | None:
    value = env.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ShardError(f"environment variable {key}={value!r} is not an integer") from None


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard:
    """The share a launcher gave this process (torchrun first, then a SLURM array), else the whole list."""
    env = os.environ if env is None else env
    world, rank = _int_env(env, "WORLD_SIZE"), _int_env(env, "RANK")
    if world is not None and world > 1:
        if rank is None or not 0 <= rank < world:
            raise ShardError(f"torchrun environment: RANK={env.get('RANK')!r} is not in [0, WORLD_SIZE={world})")
        return Shard(rank, world, "torchrun")
    task, count = _int_env(env, "SLURM_ARRAY_TASK_ID"), _int_env(env, "SLURM_ARRAY_TASK_COUNT")
    if task is not None and count is not None and count > 1:
        first = _int_env(env, "SLURM_ARRAY_TASK_MIN") or 0
        index = task - first
        if not 0 <= index < count:
            raise ShardError(
                f"SLURM array: task {task} - min {first} is not in [0, {count}); use a contiguous --array=0-{count - 1}"
            )
        return Shard(index, count, "slurm")
    return Shard()


def resolve_shard(spec: str | None, env: Mapping[str, str] | None = None) -> Shard:
    """``--shard`` when given, else the launcher's environment."""
    return parse_shard(spec) if spec else shard_from_env(env)


def assign(weights: Sequence[float], count: int, keys: Sequence[str] | None = None) -> list[int]:
    """The share of every input: heaviest first to the lightest share (ties: lower key, lower share)."""
    keys = [str(i) for i in range(len(weights))] if keys is None else list(keys)
    order = sorted(range(len(weights)), key=lambda i: (-float(weights[i]), keys[i]))
    load = [0.0] * count
    owner = [0] * len(weights)
    for i in order:
        k = min(range(count), key=lambda s: (load[s], s))
        owner[i] = k
        load[k] += float(weights[i])
    return owner


def select(paths: Sequence[Path], shard: Shard, weights: Sequence[float] | None = None) -> list[Path]:
    """The inputs of this shard, in their original order."""
    if not shard.is_split:
        return list(paths)
    if weights is None:
        weights = [1.0] * len(paths)
    owner = assign(weights, shard.count, [str(p) for p in paths])
    return [p for p, k in zip(paths, owner) if k == shard.index]
