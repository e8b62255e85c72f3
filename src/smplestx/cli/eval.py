"""`smplestx eval`: score a checkpoint on one of the paper's benchmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..progress import ProgressLine
from .common import _POSITIVE_INT, _add_model_args, _model_arg


def _cmd_eval(args: argparse.Namespace) -> int:

    from ..evaluate.benchmarks import benchmarks, get_benchmark

    if args.list:
        for b in benchmarks():
            print(f"{b.name:14s} {b.title}")
        return 0
    if not (args.benchmark and (args.checkpoint or args.model)):
        raise UsageError("eval needs --benchmark, --data-dir and --model NAME or --checkpoint FILE (see --list)")
    from dataclasses import replace

    from ..evaluate.runner import EvalOptions, EvalRun, format_table
    from ..models.loading import load_model, pick_device
    from ..sharding import resolve_shard

    bench = get_benchmark(args.benchmark)
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1) or (args.interval or 1) < 1:
        raise UsageError("--batch-size, --limit and --interval must be >= 1")
    if args.data_dir is None and not (args.annotation and args.images):
        raise UsageError("eval needs --data-dir (or both --annotation and --images)")
    args.data_dir = args.data_dir or "."
    # Absolute override paths replace the benchmark's relative ones (Path joins keep an absolute right side).
    if args.annotation:
        bench = replace(bench, annotations=(str(Path(args.annotation).expanduser().resolve()),))
    if args.images:
        bench = replace(bench, images=str(Path(args.images).expanduser().resolve()))
    if args.interval:
        bench = replace(bench, rules=replace(bench.rules, interval=args.interval))
    bench.open(args.data_dir).close()  # a missing annotation / image folder fails before the model loads
    from ..user_config import find_body_models

    args.body_models = find_body_models(args.body_models)
    output = Path(args.output or f"smplestx_eval/{bench.name}")
    from ..pipeline.run import check_output_dir

    check_output_dir(output)  # before the model is loaded (or downloaded)
    device = pick_device(args.device)
    model = load_model(_model_arg(args), body_models=args.body_models, config=args.config, device=device,
                       dtype=args.dtype, backend=args.backend, batch_size=args.batch_size)
    options = EvalOptions(batch_size=args.batch_size, limit=args.limit, mode=args.mode, workers=args.workers,
                          shard=resolve_shard(args.shard), restart=args.restart)
    progress = ProgressLine(not args.quiet, bench.name)
    try:
        report = EvalRun(bench, args.data_dir, model, args.body_models, output, options).run(
            progress.bar)
    finally:
        progress.close()
    if bench.has_ground_truth:
        print(format_table(report, bench, primary=args.mode))
    else:
        print(f"{report.evaluated} predictions for the {bench.name} server: {output / 'predictions.zip'}")
    skipped = ", ".join(f"{v} {k}" for k, v in report.skipped.items() if v)
    print(f"per-sample results: {output / 'per_sample.csv'}; summary: {output / 'summary.json'}"
          + (f"; left out: {skipped}" if skipped else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("eval", help="evaluate a checkpoint on one of the paper's benchmarks (HumanData test sets)")
    p.add_argument("--benchmark", help="benchmark name (see --list)")
    p.add_argument("--data-dir", help="data folder holding annot/ and img/ (the reference layout)")
    _add_model_args(p, default_note="required")
    p.add_argument("--config", help="official config (SMPLest-X config_base.py or SMPLer-X config_smpler_x_*.py; read as data)")
    p.add_argument("--body-models", help="folder holding smplx/ (and smpl/ for 3DPW) with the evaluation assets "
                   "(default: $SMPLESTX_BODY_MODELS or the user config file)")
    p.add_argument("--output", help="results folder (default: ./smplestx_eval/BENCHMARK); a rerun resumes it")
    p.add_argument("--batch-size", type=_POSITIVE_INT, default=16, help="crops per network batch")
    p.add_argument("--limit", type=_POSITIVE_INT, help="evaluate only the first N test samples")
    p.add_argument("--mode", choices=("corrected", "reference"), default="corrected",
                   help="metric mode listed first (both are computed and saved)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16", "int8", "int8-fbgemm", "auto"),
                   help="network precision (default fp32: scores at full precision; auto as for infer)")
    p.add_argument("--workers", type=_POSITIVE_INT, default=4, help="image decoding threads")
    p.add_argument("--annotation", help="the benchmark's HumanData npz, when not at its standard place")
    p.add_argument("--images", help="the folder its image paths are relative to, when not at the standard place")
    p.add_argument("--interval", type=_POSITIVE_INT, help="keep every N-th instance (default: the benchmark's protocol)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"),
                   help="network runtime; onnxruntime runs a .onnx file from `smplestx export-onnx` (auto: by suffix)")
    p.add_argument("--shard", metavar="I/N", help="score share I (0-based) of N of the samples; default: from "
                   "torchrun or a SLURM array; join the shares with `smplestx merge-summaries OUTPUT`")
    p.add_argument("--restart", action="store_true", help="discard results of another run in --output and start over")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_eval)
