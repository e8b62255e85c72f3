"""Evaluation of SMPL-X mesh predictions: the paper's MPVPE / MPJPE metrics (``reference`` or ``corrected``)."""

from .metrics import (
    METRIC_NAMES,
    MODES,
    EvalAssets,
    PerSampleMetrics,
    mesh_metrics,
    mesh_metrics_per_sample,
    rigid_align,
    rigid_transform,
    summarize,
)

__all__ = [
    "METRIC_NAMES",
    "MODES",
    "EvalAssets",
    "PerSampleMetrics",
    "mesh_metrics",
    "mesh_metrics_per_sample",
    "rigid_align",
    "rigid_transform",
    "summarize",
]
