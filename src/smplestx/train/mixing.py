"""Mixing several training sets into one, with the reference's strategies (datasets/dataset.py MultipleDatasets).

* ``concat``: the sets one after the other (length = sum of lengths).
* ``balance``: a fixed total length split equally between the sets: set ``k`` owns indices
  ``[k * L, (k + 1) * L)`` with ``L = total // num_sets``; a smaller set repeats (whole copies, then random
  picks for the last partial copy), a larger one contributes only its first ``L`` samples of a fixed shuffle.
  The ``total % num_sets`` indices at the end each go to a random set.
* ``weighted``: like balance, but set ``k`` owns its own number of indices (given, or ``total * w_k / sum(w)``).

As in the reference, balance / weighted shuffle each set once with Python's ``random.Random(2023)`` (the reference
seeds the global ``random`` with 2023 and shuffles each datalist), so the same subset of a large set is used.
The remaining random picks come from ``np.random.default_rng([seed, epoch, index])``: the index mapping is a pure
function of (seed, epoch, index), whatever the worker count. Sets with ``get(index, key)`` (the HumanData training
set) receive ``key = (epoch, index)``, so a repeated sample gets fresh augmentation.
"""

from __future__ import annotations

import bisect
import random
from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset

#: The reference's shuffle seed for balance / weighted.
REFERENCE_SHUFFLE_SEED = 2023
STRATEGIES = ("concat", "balance", "weighted")


def _fetch(ds: Dataset, index: int, key: tuple[int, ...]) -> Any:
    get = getattr(ds, "get", None)
    return get(index, key) if callable(get) else ds[index]


def _shuffled(n: int, seed: int) -> list[int]:
    """The permutation ``random.seed(seed); random.shuffle(list_of_n)`` applies (independent of the items)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


class _Mix(Dataset):
    """Shared parts: sub-sets, epoch, per-index generator and the fetch."""

    def __init__(self, datasets: Sequence[Dataset], seed: int = 0) -> None:
        if not datasets:
            raise ValueError("mixing needs at least one dataset")
        empty = [getattr(d, "name", str(i)) for i, d in enumerate(datasets) if len(d) == 0]
        if empty:
            raise ValueError(f"cannot mix empty dataset(s): {', '.join(empty)}")
        self.datasets = list(datasets)
        self.sizes = [len(d) for d in self.datasets]
        self.seed, self.epoch = int(seed), 0
        self._orders: list[list[int] | None] = [None] * len(self.datasets)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (random picks here and augmentation in the sub-sets)."""
        self.epoch = int(epoch)
        for d in self.datasets:
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def locate(self, index: int) -> tuple[int, int]:
        """(dataset, index in that dataset) of global ``index``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        return self.get(index)

    def get(self, index: int, key: Sequence[int] | None = None) -> Any:
        """Item ``index``; ``key`` (default (epoch, index)) is handed on for the augmentation draw."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a mixed dataset of {len(self)} samples")
        index = int(index) % len(self)
        db, item = self.locate(index)
        return _fetch(self.datasets[db], item, (self.epoch, index) if key is None else tuple(key))

    def _ordered(self, db: int, item: int) -> int:
        """Index in the shuffled order of set ``db`` (balance / weighted)."""
        if self._orders[db] is None:
            self._orders[db] = _shuffled(self.sizes[db], self.shuffle_seed)
        return self._orders[db][item]

    def _fill(self, db: int, item: int, quota: int, index: int) -> int:
        """Position ``item`` < ``quota`` in a set that may be shorter than its quota (whole copies, then random)."""
        size = self.sizes[db]
        if size < quota and item >= size * (quota // size):
            return int(self._rng(index).integers(size))
        return item % size


class ConcatDataset(_Mix):
    """The sets one after the other (reference ``concat``)."""

    def __init__(self, datasets: Sequence[Dataset], seed: int = 0) -> None:
        super().__init__(datasets, seed)
        self.ends = np.cumsum(self.sizes).tolist()

    def __len__(self) -> int:
        return self.ends[-1]

    def locate(self, index: int) -> tuple[int, int]:
        db = bisect.bisect_right(self.ends, index)
        return db, index - (self.ends[db - 1] if db else 0)


class BalancedDataset(_Mix):
    """Every set gets the same share of a fixed total length (reference ``balance``)."""

    def __init__(self, datasets: Sequence[Dataset], total_len: int | str | None = "auto", *, seed: int = 0,
                 shuffle_seed: int = REFERENCE_SHUFFLE_SEED) -> None:
        super().__init__(datasets, seed)
        self.shuffle_seed = shuffle_seed
        n = len(self.datasets)
        if total_len is None:  # every set as long as the longest
            self.per_set, self.total = max(self.sizes), max(self.sizes) * n
        else:
            self.total = sum(self.sizes) if total_len == "auto" else int(total_len)
            if self.total < n:
                raise ValueError(f"total_len {self.total} is smaller than the number of datasets ({n})")
            self.per_set = self.total // n

    def __len__(self) -> int:
        return self.total

    def locate(self, index: int) -> tuple[int, int]:
        db, item = divmod(index, self.per_set)
        if db >= len(self.datasets):  # the total % n indices at the end: a random set
            db = int(self._rng(index).integers(len(self.datasets)))
        return db, self._ordered(db, self._fill(db, item, self.per_set, index))


class WeightedDataset(_Mix):
    """Each set owns a given number of indices (reference ``weighted`` with its length dict)."""

    def __init__(self, datasets: Sequence[Dataset], lengths: Sequence[int], *, seed: int = 0,
                 shuffle_seed: int = REFERENCE_SHUFFLE_SEED) -> None:
        super().__init__(datasets, seed)
        if len(lengths) != len(self.datasets) or any(int(n) < 0 for n in lengths) or sum(lengths) <= 0:
            raise ValueError(f"weighted mixing needs one non-negative length per dataset, not all zero; got {lengths}")
        self.shuffle_seed = shuffle_seed
        self.lengths = [int(n) for n in lengths]
        self.ends = np.cumsum(self.lengths).tolist()

    def __len__(self) -> int:
        return self.ends[-1]

    def locate(self, index: int) -> tuple[int, int]:
        db = bisect.bisect_right(self.ends, index)
        item = index - (self.ends[db - 1] if db else 0)
        return db, self._ordered(db, self._fill(db, item, self.lengths[db], index))


def weighted_lengths(weights: Sequence[float], total: int) -> list[int]:
    """Split ``total`` samples in proportion to ``weights`` (largest remainders get the rounding)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"weights must be non-negative and not all zero; got {list(weights)}")
    exact = w / w.sum() * total
    out = np.floor(exact).astype(np.int64)
    out[np.argsort(-(exact - out), kind="stable")[: total - int(out.sum())]] += 1
    return out.tolist()


def build_mixed(
    datasets: Sequence[Dataset],
    strategy: str = "balance",
    *,
    total_len: int | str | None = "auto",
    weights: Sequence[float] | None = None,
    lengths: Sequence[int] | None = None,
    seed: int = 0,
    shuffle_seed: int = REFERENCE_SHUFFLE_SEED,
) -> Dataset:
    """One training set from several: ``concat``, ``balance`` (``total_len`` or "auto") or ``weighted``.

    ``weighted`` takes explicit per-set ``lengths`` or ``weights`` that split ``total_len`` ("auto": the sum of
    the set sizes).
    """
    if strategy == "concat":
        return ConcatDataset(datasets, seed=seed)
    if strategy == "balance":
        return BalancedDataset(datasets, total_len, seed=seed, shuffle_seed=shuffle_seed)
    if strategy == "weighted":
        if lengths is None:
            if weights is None or not any(w > 0 for w in weights):
                raise ValueError("the weighted strategy needs per-dataset weights (or lengths), not all zero")
            total = sum(len(d) for d in datasets) if total_len in ("auto", None) else int(total_len)
            lengths = weighted_lengths(weights, total)
        return WeightedDataset(datasets, lengths, seed=seed, shuffle_seed=shuffle_seed)
    raise ValueError(f"unknown mixing strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")


__all__ = [
    "REFERENCE_SHUFFLE_SEED", "STRATEGIES", "BalancedDataset", "ConcatDataset", "WeightedDataset", "build_mixed",
    "weighted_lengths",
]
