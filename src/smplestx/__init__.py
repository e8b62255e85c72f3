"""smplestx: SMPLest-X expressive whole-body human pose and shape estimation."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names -> defining module; imported on first use so `import smplestx` (and the CLI) stay fast.
_EXPORTS = {
    "BodyModel": "body",
    "BodyOutput": "body",
    "write_synthetic_body": "synthetic.smplx_model",
    "CheckpointError": "models.checkpoint",
    "convert_checkpoint": "models.checkpoint",
    "load_network": "models.checkpoint",
    "SMPLEST_X_PRESETS": "models.smplest_x",
    "ConfigError": "models.config",
    "SMPLestXConfig": "models.smplest_x",
    "load_official_config": "models.smplest_x",
    "preset": "models.smplest_x",
    "CropPrediction": "models.smplest_x",
    "SMPLestX": "models.smplest_x",
    "load_model": "models.loading",
    "SMPLerX": "models.smpler_x",
    "SMPLerXConfig": "models.smpler_x",
    "SMPLER_X_PRESETS": "models.smpler_x",
    "load_smpler_x_config": "models.smpler_x",
    "smpler_x_preset": "models.smpler_x",
    "Estimator": "pipeline.estimator",
    "Person": "io.results",
    "FrameResult": "io.results",
    "SceneCamera": "geometry.scene_camera",
    "load_results": "io.results",
    "Track": "motion.tracks",
    "TrackSet": "motion.tracks",
    "load_tracks": "motion.tracks",
    "save_tracks": "motion.tracks",
    "track": "motion.sequences",
    "smooth": "motion.smoothing",
    "render_meshes": "render",
    "export_animation": "export",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    """Resolve a public name lazily."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'smplestx' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
