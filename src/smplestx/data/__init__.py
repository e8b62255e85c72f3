"""Data: synthetic scenes for tests, demos and benchmarks, and the HumanData (.npz) annotation reader."""

from .humandata import HumanData, HumanDataError, HumanDataInstance, HumanDataKeyError, write_humandata

__all__ = ["HumanData", "HumanDataError", "HumanDataInstance", "HumanDataKeyError", "write_humandata"]
