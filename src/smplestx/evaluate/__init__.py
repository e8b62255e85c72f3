"""Evaluation of SMPL-X mesh predictions: the paper's metrics (``reference`` or ``corrected``) and benchmarks."""

from .benchmarks import Benchmark, BenchmarkDataError, benchmarks, get_benchmark
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
from .smpl_metrics import SMPLEvalAssets, smpl_mesh_metrics, smpl_mesh_metrics_per_sample
from .runner import EvalOptions, EvalReport, EvalRun, format_table

__all__ = [
    "METRIC_NAMES",
    "MODES",
    "Benchmark",
    "BenchmarkDataError",
    "EvalAssets",
    "EvalOptions",
    "EvalReport",
    "EvalRun",
    "PerSampleMetrics",
    "SMPLEvalAssets",
    "smpl_mesh_metrics",
    "smpl_mesh_metrics_per_sample",
    "benchmarks",
    "format_table",
    "get_benchmark",
    "mesh_metrics",
    "mesh_metrics_per_sample",
    "rigid_align",
    "rigid_transform",
    "summarize",
]
