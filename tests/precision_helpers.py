"""Checks shared by the reduced-precision tests."""

from __future__ import annotations

import numpy as np


def assert_same_people(low: np.ndarray, full: np.ndarray) -> None:
    """Camera-frame joints (P, J, 3) of a reduced-precision run match the fp32 run's: same people, other arithmetic.

    Root-relative joints within 30 mm (the tiny random-weight model: bf16 ~10 mm, int8 ~3 mm; trained weights move
    them ~1 mm) and depth within 1 % (a random tiny model puts people ~20 m away, where 0.2 % is 5 cm), yet not equal.
    """
    rel = np.abs((low - low[:, :1]) - (full - full[:, :1])).max()
    depth = np.abs(low[:, 0, 2] / full[:, 0, 2] - 1).max()
    assert 0 < rel < 0.03, rel
    assert depth < 0.01, depth
