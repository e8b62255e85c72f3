"""The ``smplestx`` command line: argument parsing and one-line errors; the work lives in the library."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import NoReturn
from pathlib import Path

from . import __version__
from .errors import SmplestxError, UsageError
from .progress import ProgressLine

log = logging.getLogger("smplestx")


def _cmd_convert(args: argparse.Namespace) -> int:
    import time

    from .checkpoint import convert_checkpoint

    start = time.perf_counter()
    cfg = convert_checkpoint(args.input, args.output, config=args.config, dtype=args.dtype)
    e = cfg.encoder
    family = getattr(cfg, "family", "smplest_x")
    print(
        f"wrote {args.output} ({family}, {args.dtype}; encoder {e.embed_dim}x{e.depth}, {e.num_heads} heads) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _cmd_synthetic_body(args: argparse.Namespace) -> int:
    from .synthetic.smplx_model import write_synthetic_body

    folder = write_synthetic_body(args.output, seed=args.seed)
    print(f"wrote a synthetic (license-free) SMPL-X model to {folder}")
    return 0


def _cmd_synthetic_media(args: argparse.Namespace) -> int:
    from .synthetic.scene import write_demo_media
    from .user_config import find_body_models

    args.body_models = find_body_models(args.body_models)
    if args.walk:
        from .synthetic.walks import write_walk_media

        media, boxes, truth = write_walk_media(args.output, args.body_models, scenario=args.walk, frames=args.frames,
                                               width=args.width, height=args.height, fps=args.fps, seed=args.seed,
                                               camera=args.camera)
        print(f"wrote {media}, its true boxes {boxes} and ground truth {truth}")
        return 0
    if args.camera:
        raise UsageError(f"synthetic-media: --camera {args.camera} films a walk; add --walk crossing or --walk hard")
    media, boxes, truth = write_demo_media(args.output, args.body_models, people=args.people, frames=args.frames,
                                           width=args.width, height=args.height, fps=args.fps, seed=args.seed)
    print(f"wrote {media}, its true person boxes {boxes} (use --detector boxes:{boxes}) and ground truth {truth}")
    return 0


def _cmd_synthetic_data(args: argparse.Namespace) -> int:
    from .synthetic.dataset import write_synthetic_dataset

    if args.num < 1:
        raise UsageError("--num must be >= 1")
    annot = write_synthetic_dataset(args.output, args.num, seed=args.seed, split=args.split,
                                    body_models=args.body_models, image_size=(args.width, args.height),
                                    people_per_image=(args.min_people, args.max_people),
                                    genders=tuple(args.genders.split(",")), truncation=args.truncation,
                                    occlusion=args.occlusion)
    print(f"wrote {args.num} images and their HumanData {annot}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    print("smplestx demo: a synthetic body and video generated here, and the packaged synthetic-tiny model "
          "(no network, no licensed file; trained on our synthetic people only: it knows them, not real photos; "
          "its heading is still often wrong, see docs/synthetic-tiny.md).",
          file=sys.stderr)
    out = run_demo(args.output, frames=args.frames, people=args.people, device=args.device, seed=args.seed)
    print(f"{out.frames} frames, {out.people} person detections -> {out.folder}/")
    print(f"  results:  {out.results}   (python: smplestx.load_results('{out.results}'))")
    if out.overlay:
        print(f"  overlay:  {out.overlay}")
    print(f"  inputs:   {out.video} (+ true boxes {out.boxes}), body models {out.body_models}")
    print(f"view it in 3D:  smplestx view {out.results}   (opens a local web page)")
    print("real weights:   smplestx infer photo.jpg --model smplest-x-h   (downloads ~8 GB once; needs the SMPL-X "
          "files, see README)")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import format_report, run_checks

    checks = run_checks(args.body_models)
    print(format_report(checks))
    if args.tune:
        from .doctor import tune_report

        print("\n" + tune_report(_model_arg(args), body_models=args.body_models, config=args.config,
                                 batch_size=args.batch_size))
    missing = [c.name for c in checks if not c.ok]
    if missing:
        print(f"smplestx doctor: missing {', '.join(missing)} (see above)", file=sys.stderr)
        return 1
    return 0


def _cmd_view(args: argparse.Namespace) -> int:
    import webbrowser

    from .viewer import make_server, url_of

    server = make_server(args.output, port=args.port, host=args.host, body_models=args.body_models)
    url = url_of(server)
    print(f"smplestx view: {url}  (Ctrl-C to stop)", file=sys.stderr)
    if not args.no_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .zoo import DEFAULT_DETECTOR, download, hub_cache_dir, zoo_entry

    names = list(args.names) + ([DEFAULT_DETECTOR] if args.detector else [])
    if not names:
        raise UsageError("download: name a model (see `smplestx models`) or give --detector")
    for name in names:
        zoo_entry(name)  # every name checked before the first byte moves
    for name in names:
        got = download(name)
        print(f"{got.entry.name if got.entry else name}: " + ", ".join(str(f) for f in (got.checkpoint, got.config) if f))
    print(f"in the Hugging Face cache {hub_cache_dir()} (moved by HF_HOME or HF_HUB_CACHE); later runs use it, "
          "offline too (HF_HUB_OFFLINE=1)")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import json

    from .checkpoint import checkpoint_family, read_checkpoint, resolve_config
    from .zoo import resolve_model

    model = resolve_model(args.checkpoint, args.config)  # a model name works too (downloaded once)
    state, stored = read_checkpoint(model.checkpoint)
    cfg = resolve_config(state, stored, model.config, str(model.checkpoint))
    n = sum(v.numel() for v in state.values())
    info = {"family": checkpoint_family(state), "parameters": n, "tensors": len(state), "config": cfg.to_dict()}
    print(json.dumps(info, indent=2))
    return 0


def _cmd_merge_summaries(args: argparse.Namespace) -> int:
    from .pipeline.run import _write_json_atomic, merge_summaries

    folder = Path(args.output)
    if list(folder.glob("per_sample.shard-*-of-*.csv")):
        from .evaluate.runner import merge_eval_shards

        report, missing = merge_eval_shards(folder)
        print(f"{report.evaluated} samples -> {folder / 'per_sample.csv'}, {folder / 'summary.json'}")
        for mode, values in (("corrected", report.corrected), ("reference", report.reference)):
            print(f"  {mode}: " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))
        if missing:
            print(f"smplestx: missing shards {missing}: rerun them (finished samples are kept)", file=sys.stderr)
            return 1
        return 0
    merged, missing = merge_summaries(folder)
    _write_json_atomic(folder / "summary.json", merged.to_dict())
    print(
        f"{len(merged.inputs)} inputs from {merged.shard['count'] - len(missing)} of {merged.shard['count']} shards, "
        f"{merged.frames} frames, {merged.failures} failed, {merged.skipped} skipped -> {folder / 'summary.json'}"
    )
    if missing:
        print(f"smplestx: missing shards {missing}: rerun them (finished inputs are skipped)", file=sys.stderr)
        return 1
    return 1 if merged.failures else 0


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import load_network
    from .onnx_export import OUTPUTS, OnnxError, OnnxNetwork, export_onnx
    from .user_config import body_models_setting, find_body_models

    if body_models_setting(args.body_models)[0] is not None:  # the vertex check runs wherever body models are set
        args.body_models = find_body_models(args.body_models)
    net = load_network(args.model, args.config)
    out = export_onnx(net, args.output, opset=args.opset)
    # Check the file against torch on crops of two batch sizes before calling it done.
    onnx_net = OnnxNetwork(out)
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for b in (1, 3):
        crops = torch.rand(b, 3, *net.config.input_img_shape, generator=gen)
        with torch.inference_mode():
            ref, got = net(crops), onnx_net(crops)
        worst = max(worst, *(float((getattr(ref, k) - getattr(got, k)).abs().max()) for k in vars(got)))
    line = f"{out}: {out.stat().st_size / 1e6:.1f} MB, dynamic batch; max parameter difference vs torch {worst:.2e}"
    if args.body_models:
        from .body import BodyModel

        body = BodyModel.from_dir(args.body_models, "neutral")
        crops = torch.rand(3, 3, *net.config.input_img_shape, generator=gen)
        with torch.inference_mode():
            a, b = net(crops), onnx_net(crops)
            va = body(**{k: getattr(a, k) for k in OUTPUTS}).vertices  # the parameters (SMPLer-X boxes aside)
            vb = body(**{k: getattr(b, k) for k in OUTPUTS}).vertices
        err = float((va - vb).norm(dim=-1).max())
        line += f"; max vertex difference {err * 1000:.4f} mm"
        if err > 1e-4:
            print(line)
            raise OnnxError(f"{out}: ONNX vertices differ from torch by {err:.2e} m (> 1e-4 m); do not use it")
    print(line)
    return 0


def _cmd_infer(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .pipeline.estimator import Estimator
    from .pipeline.run import InferenceRun, InferOptions, check_output_dir
    from .geometry.scene_camera import scene_camera_from_options
    from .sharding import resolve_shard

    if args.start is not None and args.end is not None and args.end <= args.start:
        raise UsageError(f"--end {args.end:g} must be after --start {args.start:g}")
    shard = resolve_shard(args.shard)
    camera = scene_camera_from_options(args.focal, args.fov, args.intrinsics)
    options = InferOptions(
        output=Path(args.output),
        write_json=args.json,
        save_vertices=args.save_vertices,
        save_mesh=args.save_mesh,
        render=not args.no_render,
        draw_keypoints=args.draw_keypoints,
        draw_boxes=args.draw_boxes,
        recursive=args.recursive,
        start=args.start,
        end=args.end,
        stride=args.stride,
        shard=shard,
        overwrite=args.overwrite,
        track=not args.no_track,
        smooth=args.smooth,
        fill_gaps=args.fill_gaps,
        feet=args.feet,
        camera_motion=args.camera,
    )
    from .motion.smoothing import parse_method

    parse_method(args.smooth)  # a typo fails now, not after the whole video
    # Everything a user can get wrong about the setup fails here, before any frame is read or byte downloaded.
    check_output_dir(options.output)
    unusable = _unusable_inputs(args.inputs)
    if len(unusable) == len(args.inputs):
        print(f"smplestx: {len(unusable)} input(s) failed: " + "; ".join(unusable), file=sys.stderr)
        return 1
    detector = args.detector
    if detector.partition(":")[0] == "boxes":
        from .pipeline.detectors import make_detector

        detector = make_detector(detector)  # a local file: read (or refused) before the model is fetched
    estimator = Estimator(
        _model_arg(args),
        args.body_models,
        config=args.config,
        detector=detector,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        score_threshold=args.score_threshold,
        nms_iou=args.nms_iou,
        max_people=args.max_people,
        largest=args.largest,
        keep_vertices=options.render or options.save_vertices or options.save_mesh is not None,
        backend=args.backend,
        camera=camera,
    )
    if not args.quiet:
        print(f"smplestx: device {estimator.device} ({estimator.precision}), detector {estimator.detector.name}",
              file=sys.stderr)
    progress = ProgressLine(not args.quiet)
    try:
        summary = InferenceRun(estimator, options, progress.frames).run(args.inputs)
    finally:
        progress.close()
    if not args.quiet:
        print(
            f"{len(summary.inputs)} inputs, {summary.frames} frames, {summary.people} people, "
            f"{summary.failures} failed, {summary.seconds:.1f} s ({summary.frames_per_second:.2f} frames/s); "
            f"outputs in {options.output}"
        )
    failed = [item for item in summary.inputs if not item.ok]
    if failed:
        # A recap at the end, so failures are not lost in a long run's output.
        print(f"smplestx: {len(failed)} input(s) failed: " + "; ".join(str(item.error) for item in failed), file=sys.stderr)
    return 1 if summary.failures else 0


def _unusable_inputs(inputs: Sequence[str]) -> list[str]:
    """Why each input that is not a folder cannot be read (missing, unsupported); the run reports them again."""
    from .pipeline.sources import MediaError, collect_inputs

    problems = []
    for item in inputs:
        if Path(item).is_dir():
            continue  # listed once, by the run (an empty folder is reported there)
        try:
            collect_inputs([item])
        except MediaError as exc:
            problems.append(str(exc))
    return problems


def _cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .evaluate.benchmarks import benchmarks, get_benchmark

    if args.list:
        for b in benchmarks():
            print(f"{b.name:14s} {b.title}")
        return 0
    if not (args.benchmark and (args.checkpoint or args.model)):
        raise UsageError("eval needs --benchmark, --data-dir and --model NAME or --checkpoint FILE (see --list)")
    from dataclasses import replace

    from .evaluate.runner import EvalOptions, EvalRun, format_table
    from .model import load_model, network_backend, network_precision, pick_device

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
    from .user_config import find_body_models

    args.body_models = find_body_models(args.body_models)
    output = Path(args.output or f"smplestx_eval/{bench.name}")
    from .pipeline.run import check_output_dir

    check_output_dir(output)  # before the model is loaded (or downloaded)
    device = pick_device(args.device)
    model = load_model(_model_arg(args), body_models=args.body_models, config=args.config, device=device,
                       dtype=args.dtype, backend=args.backend, batch_size=args.batch_size)
    from .fingerprint import file_fingerprint, folder_fingerprint, weights_fingerprint
    from .user_config import find_body_models
    from .sharding import resolve_shard

    annotation = bench.annotation_path(args.data_dir).resolve()
    # Content, not paths: a checkpoint replaced at the same path must not be averaged with the old one's rows.
    onnx_file = args.checkpoint and Path(args.checkpoint).suffix.lower() == ".onnx"
    weights = file_fingerprint(args.checkpoint) if onnx_file else weights_fingerprint(model.net)
    identity = {"checkpoint": args.model or str(Path(args.checkpoint).resolve()), "weights": weights,
                "model_config": model.config.to_dict(),
                "body_models": folder_fingerprint(find_body_models(args.body_models)),
                "annotation": str(annotation), "annotation_data": file_fingerprint(annotation),
                "interval": bench.rules.interval,
                "dtype": network_precision(model.net), "backend": network_backend(model.net)}
    options = EvalOptions(batch_size=args.batch_size, limit=args.limit, mode=args.mode, workers=args.workers,
                          shard=resolve_shard(args.shard), restart=args.restart)
    progress = ProgressLine(not args.quiet, bench.name)
    try:
        report = EvalRun(bench, args.data_dir, model, args.body_models, output, options, identity=identity).run(
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


def _cmd_train(args: argparse.Namespace) -> int:
    import os

    from .train.trainer import run_training

    rank0 = os.environ.get("RANK", "0") == "0"
    if rank0 and not args.quiet:
        # Progress lines are INFO records of the trainer; other ranks stay quiet.
        logging.getLogger("smplestx.train").setLevel(logging.INFO)
    result = run_training(args.config, args.set, output=args.output, resume=True if args.resume else None)
    if rank0:
        state = "stopped early; continue with --resume" if result.stopped_early else "done"
        print(f"{state}: {result.iteration} iterations; last snapshot {result.last_snapshot}; logs in {result.output_dir}")
    # Stopped by a signal: the shell's 128 + N, so a job scheduler sees the run as terminated, not finished.
    return 128 + result.signal if result.signal else 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .export import export_animation
    from .user_config import find_body_models

    args.body_models = find_body_models(args.body_models)
    track_ids = None
    if args.track:
        try:
            track_ids = [int(x) for x in args.track]
        except ValueError:
            raise UsageError(f"--track takes integer track ids, got {' '.join(args.track)}") from None
    try:
        report = export_animation(args.input, args.format, args.body_models,
                                  args.output if args.output else _default_output(args.input),
                                  track_ids=track_ids, fps=args.fps, gender=args.gender, smooth=args.smooth,
                                  feet=args.feet)
    except RuntimeError as exc:  # Blender missing or failing while converting to FBX: one line, not a traceback
        raise SmplestxError(str(exc)) from exc
    for tid, files in report.files.items():
        names = ", ".join(str(p) for p in files.values())
        err = report.skinning_error.get(tid)
        skin = f" (4-influence skin: max {err['max_m'] * 1000:.2f} mm from full LBS)" if err else ""
        print(f"track {tid}: {names}{skin}")
    if report.scene is not None:
        print(f"scene: {report.scene}")
    print(f"exported {len(report.files)} track(s) in {report.seconds:.1f} s")
    return 0


def _default_output(path: str) -> str:
    from pathlib import Path

    return str(Path(path).resolve().parent)
def _number(kind: type, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False):
    """An argparse type: a finite ``kind`` within [lo, hi] (lo excluded when ``lo_open``), else a one-line error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if lo is not None and (value <= lo if lo_open else value < lo):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if lo_open else '>='} {lo:g}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"{text} must be <= {hi:g}")
        return value

    return parse


_POSITIVE_INT = _number(int, 1)
_SECONDS = _number(float, 0.0)
_FRACTION = _number(float, 0.0, 1.0)


def _add_model_args(p: argparse.ArgumentParser, default_note: str) -> None:
    """--model NAME and --checkpoint FILE: two spellings of one choice."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", help=f"model name, downloaded on first use (see `smplestx models`; {default_note})")
    g.add_argument("--checkpoint", help="official .pth.tar or converted .safetensors (a model name works too)")


def _model_arg(args: argparse.Namespace) -> str:
    """The model name or checkpoint path given on the command line, else the default model."""
    from .zoo import DEFAULT_MODEL

    return args.model or args.checkpoint or DEFAULT_MODEL


def _cmd_models(args: argparse.Namespace) -> int:
    from .zoo import DEFAULT_DETECTOR, DETECTORS, MODELS, hub_cache_dir
    from .zoo import __file__ as zoo_file

    print(f"{'name':22s} {'size':>9s}  {'sha256':9s} source")
    for m in MODELS.values():
        size = f"~{m.approx_bytes / 2**30:.1f} GiB" if m.approx_bytes else "?"
        if m.packaged and (shipped := Path(zoo_file).parent / m.packaged).is_file():
            size = f"{shipped.stat().st_size / 2**20:.1f} MiB"
        print(f"{m.name:22s} {size:>9s}  {'yes' if m.sha256 else 'not yet':9s} {m.source}")
    print(f"detectors: {', '.join(DETECTORS)} (default {DEFAULT_DETECTOR})")
    print(f"downloads go to the Hugging Face cache: {hub_cache_dir()}; fetch ahead with `smplestx download NAME "
          "[--detector]`; licences: `smplestx models --licences`")
    if args.licences:
        for m in MODELS.values():
            print(f"{m.name}: {m.licence}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = _Parser(prog="smplestx", description="SMPLest-X whole-body human pose and shape estimation")
    parser.add_argument("--version", action="version", version=f"smplestx {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details; print a traceback with any error")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("infer", help="estimate SMPL-X for everyone in images, folders and videos")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or video files")
    _add_model_args(p, default_note="default: smplest-x-h")
    p.add_argument("--config", help="official config (SMPLest-X config_base.py or SMPLer-X config_smpler_x_*.py; read as data)")
    p.add_argument("--body-models", help="folder holding smplx/SMPLX_NEUTRAL.npz (default: $SMPLESTX_BODY_MODELS "
                   "or body_models in the user config file)")
    p.add_argument("--output", default="smplestx_out", help="output folder (default: ./smplestx_out)")
    p.add_argument("--detector", default="auto", help="auto (RT-DETR, downloaded once) | full | boxes:FILE | rtdetr[:NAME|FOLDER] | "
                   "torchvision[:WEIGHTS] | yolo:WEIGHTS")
    p.add_argument("--recursive", action="store_true", help="descend into subfolders of folder inputs")
    p.add_argument("--start", type=_SECONDS, help="video start time in seconds")
    p.add_argument("--end", type=_SECONDS, help="video end time in seconds")
    p.add_argument("--stride", type=_POSITIVE_INT, default=1, help="use every N-th video frame")
    p.add_argument("--batch-size", type=_POSITIVE_INT, default=16, help="crops per network batch")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16", "int8", "int8-fbgemm"),
                   help="network precision; auto (CPU): the fastest precision within 5 mm of fp32, measured once per "
                        "machine and model size (cached; `smplestx doctor --tune` shows the table), fp32 on GPUs; "
                        "int8 (CPU only): the int8 kernel fast on this CPU (per-row with VNNI, else int8-fbgemm); "
                        "--dtype fp32 opts out")
    p.add_argument("--score-threshold", type=_FRACTION, default=0.5, help="minimum detector score")
    p.add_argument("--nms-iou", type=_number(float, 0.0, 1.0, lo_open=True), default=0.5, help="IoU above which overlapping boxes are merged")
    p.add_argument("--max-people", type=_POSITIVE_INT, help="keep at most N people per frame (the largest)")
    p.add_argument("--largest", action="store_true", help="keep only the largest person per frame")
    p.add_argument("--focal", type=float, metavar="PX",
                   help="scene camera focal length in pixels (default: the image diagonal, i.e. a 53 deg diagonal FOV)")
    p.add_argument("--fov", type=float, metavar="DEG", help="scene camera horizontal field of view in degrees")
    p.add_argument("--intrinsics", metavar="FILE", help='scene camera from JSON {"fx": .., "fy": .., "cx": .., "cy": ..} (pixels)')
    p.add_argument("--json", action="store_true", help="also write results as JSON")
    p.add_argument("--save-vertices", action="store_true", help="store mesh vertices in the results file")
    p.add_argument("--save-mesh", choices=("obj", "ply", "glb"), help="write meshes (a file per person, or a GLB scene per frame)")
    p.add_argument("--no-render", action="store_true", help="skip the overlay images/videos")
    p.add_argument("--draw-keypoints", action="store_true", help="draw 2D joints on the overlay")
    p.add_argument("--draw-boxes", action="store_true", help="draw detector boxes (and SMPLer-X hand/face boxes) on the overlay")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"),
                   help="network runtime; onnxruntime runs a .onnx file from `smplestx export-onnx` (auto: by suffix)")
    p.add_argument("--shard", metavar="I/N", help="process share I (0-based) of N of the inputs; default: from "
                   "torchrun (RANK/WORLD_SIZE) or a SLURM array (SLURM_ARRAY_TASK_ID/COUNT), else all")
    p.add_argument("--overwrite", action="store_true", help="redo inputs already complete from an earlier run "
                   "with the same settings (default: skip them, so a rerun resumes)")
    p.add_argument("--no-track", action="store_true", help="videos: skip tracking (no track ids, no NAME.tracks.npz)")
    p.add_argument("--smooth", default="gaussian",
                   help="track file filter: none | gaussian[(sigma=2)] | oneeuro[(min_cutoff=1,beta=0.3)] (default: gaussian)")
    p.add_argument("--fill-gaps", type=_number(int, 0, 10000), default=0, metavar="N",
                   help="bridge track gaps of up to N frames by interpolation (slerp) in the track file")
    p.add_argument("--feet", choices=("pin", "none"), default="pin",
                   help="track file foot cleanup: pin (planted feet stay put, none below the floor; default) | none")
    p.add_argument("--camera", choices=("static", "moving", "auto"), default="static",
                   help="videos: the camera's path in the track file: static (default: one pose, on the feet's floor) | "
                        "moving (followed from the background) | auto (moving or static, decided from the background)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_infer)

    p = sub.add_parser("export-onnx", help="write the network as ONNX (crops -> SMPL-X parameters, dynamic batch)")
    p.add_argument("model", help="official .pth.tar or converted .safetensors")
    p.add_argument("output", help="the .onnx file to write")
    p.add_argument("--config", help="official config_base.py (read as data)")
    p.add_argument("--body-models", help="also check the vertices against torch with this SMPL-X folder (<= 1e-4 m); "
                   "default: $SMPLESTX_BODY_MODELS or the user config file, else no check")
    p.add_argument("--opset", type=_number(int, 17, 30), default=18, help="ONNX opset (default 18)")
    p.set_defaults(func=_cmd_export_onnx)

    p = sub.add_parser("merge-summaries", help="join the per-shard results of a sharded infer or eval run")
    p.add_argument("output", help="the output folder the shards wrote to")
    p.set_defaults(func=_cmd_merge_summaries)

    p = sub.add_parser("convert", help="convert an official .pth.tar checkpoint to safetensors")
    p.add_argument("input", help="official checkpoint (.pth.tar) or safetensors")
    p.add_argument("output", help="output .safetensors path")
    p.add_argument("--config", help="official config of either family (read as data); default: inferred from tensor shapes")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32", help="stored weight dtype")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("synthetic-body", help="write a license-free synthetic SMPL-X model folder")
    p.add_argument("output", help="folder to create; the model goes to OUTPUT/smplx/")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.set_defaults(func=_cmd_synthetic_body)

    p = sub.add_parser("synthetic-media", help="render an image or video of mannequins (for demos and benchmarks), "
                       "with their true boxes OUTPUT.boxes.json and ground truth OUTPUT.truth.npz")
    p.add_argument("output", help="an image (.png, .jpg) or video (.mp4, ...) path")
    p.add_argument("--body-models", help="an SMPL-X model folder, e.g. from synthetic-body (default: "
                   "$SMPLESTX_BODY_MODELS or body_models in the user config file)")
    p.add_argument("--people", type=_number(int, 0, 64), default=2)
    p.add_argument("--frames", type=_number(int, 1, 100000), default=30, help="video frames")
    p.add_argument("--width", type=_number(int, 16, 16384), default=640)
    p.add_argument("--height", type=_number(int, 16, 16384), default=480)
    p.add_argument("--fps", type=_number(float, 0.0, 1000.0, lo_open=True), default=10.0)
    p.add_argument("--walk", choices=("crossing", "hard"),
                   help="a video of people walking on crossing paths (hard: three people, occlusions, one leaves and "
                        "comes back); their truth adds foot contacts and the floor")
    p.add_argument("--camera", choices=("static", "pan", "follow", "orbit", "handheld"),
                   help="with --walk: film a textured world (floor and backdrop) from this camera path; the truth "
                        "gains the camera path and the world bodies (default: the plain backdrop, a static camera)")
    p.add_argument("--seed", type=int, default=0, help="the scene: 0 is the fixed default, other seeds other scenes")
    p.set_defaults(func=_cmd_synthetic_media)

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

    p = sub.add_parser("train", help="train or finetune (one process, or many with torchrun)")
    p.add_argument("config", help="training config (.toml; see configs/train/ and docs/training.md)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. train.lr=2e-5")
    p.add_argument("--resume", action="store_true", help="continue from the newest snapshot in the output folder")
    p.add_argument("--output", help="output folder (overrides train.output_dir)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("synthetic-data", help="render a synthetic HumanData dataset (training / evaluation checks)")
    p.add_argument("output", help="folder to create: images/, annotations/synthetic_SPLIT.npz (+ body_models/)")
    p.add_argument("--num", type=_POSITIVE_INT, default=64, help="number of images")
    p.add_argument("--split", default="train", help="split name in the file name (train, test, ...)")
    p.add_argument("--seed", type=int, default=0, help="random seed (image i depends only on seed and i)")
    p.add_argument("--body-models", help="SMPL-X model folder to render with (default: a synthetic one written to "
                   "OUTPUT/body_models, never $SMPLESTX_BODY_MODELS: the data set carries the body it was made with)")
    p.add_argument("--width", type=_number(int, 16, 16384), default=640)
    p.add_argument("--height", type=_number(int, 16, 16384), default=480)
    p.add_argument("--min-people", type=_number(int, 0, 64), default=1, help="people per image, at least")
    p.add_argument("--max-people", type=_number(int, 1, 64), default=2, help="people per image, at most")
    p.add_argument("--genders", default="neutral", help="comma-separated genders to draw from")
    p.add_argument("--truncation", type=_number(float, 0, 1), default=0.0,
                   help="chance that a person is cut by an image border (default 0.0)")
    p.add_argument("--occlusion", type=_number(float, 0, 1), default=0.0,
                   help="chance that the people of an image overlap, one in front of the other (default 0.0)")
    p.set_defaults(func=_cmd_synthetic_data)

    p = sub.add_parser("export", help="export tracked people as animations: glTF (.glb), BVH, AMASS-style npz, FBX, "
                                      "Meshcapade .smpl/.mcs")
    p.add_argument("input", metavar="INPUT", help="a results file of `smplestx infer` (.npz/.json), a .tracks.npz, "
                                                  "or a Meshcapade .smpl/.mcs or AMASS SMPL-X .npz")
    p.add_argument("--format", default="glb,bvh,amass",
                   help="comma-separated: glb, bvh, amass, fbx, smpl, mcs (default glb,bvh,amass)")
    p.add_argument("--body-models", help="folder holding smplx/SMPLX_NEUTRAL.npz, or the smplx/ folder (default: "
                   "$SMPLESTX_BODY_MODELS or body_models in the user config file)")
    p.add_argument("--output", help="output folder (default: the input's folder)")
    p.add_argument("--track", action="append", metavar="ID", help="export only this track id (repeatable)")
    p.add_argument("--fps", type=float, help="frame rate (default: the input's, else 30)")
    p.add_argument("--gender", choices=("neutral", "male", "female"), help="body model (default: the input's)")
    p.add_argument("--smooth", metavar="METHOD", help="temporal smoothing before export (smplestx.motion), e.g. gaussian")
    p.add_argument("--feet", choices=("pin", "none"),
                   help="foot cleanup before export: pin (planted feet stay put; the default, except for .smpl/.mcs/"
                        "AMASS inputs, converted as they are; skipped when the input is already pinned) | none")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("demo", help="run the whole pipeline offline on generated inputs (the packaged synthetic-tiny model)")
    p.add_argument("output", nargs="?", default="smplestx_demo", help="folder to create (default: ./smplestx_demo)")
    p.add_argument("--frames", type=int, default=12, help="video frames")
    p.add_argument("--people", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | mps | auto")
    p.add_argument("--seed", type=int, default=0, help="seed of the scene (the body is always the synthetic seed 0)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("view", help="open a results, track or animation file (or an output folder) in a local 3D "
                                    "web viewer")
    p.add_argument("output", help="a results .npz/.json, a NAME.tracks.npz, an .amass.npz or .glb of export, a .smpl or "
                                  ".mcs, or a folder of them (the page lists them)")
    p.add_argument("--port", type=int, default=8080, help="local port (default 8080; 0 = any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--body-models", help="SMPL-X folder: the mesh faces, and the meshes when the file holds none "
                                         "(default: $SMPLESTX_BODY_MODELS, then body_models in the config file)")
    p.add_argument("--no-browser", action="store_true", help="only print the address")
    p.set_defaults(func=_cmd_view)

    p = sub.add_parser("doctor", help="check the installation: torch, device, body models, caches, detectors")
    p.add_argument("--tune", action="store_true", help="measure --dtype auto's precision calibration again for a "
                   "model (on this CPU, this torch) and print its table")
    _add_model_args(p, default_note="with --tune; default: smplest-x-h")
    p.add_argument("--config", help="with --tune: official config of the checkpoint (read as data)")
    p.add_argument("--body-models", help="SMPL-X folder to check (and to tune with) (default: as for infer)")
    p.add_argument("--batch-size", type=_POSITIVE_INT, default=16, help="with --tune: the batch size to tune for "
                   "(default 16, infer's)")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("models", help="list the models that --model NAME downloads on first use")
    p.add_argument("-l", "--licences", action="store_true", help="also print each model's licence")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("download", help="fetch models (and the detector) into the cache now, e.g. on a login node")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names of `smplestx models` (or detector names)")
    p.add_argument("--detector", action="store_true", help="also fetch the default person detector (RT-DETR)")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("info", help="print a checkpoint's size and model config")
    p.add_argument("checkpoint", help="a checkpoint file or a model name (see `smplestx models`)")
    p.add_argument("--config", help="official config of either family (read as data)")
    p.set_defaults(func=_cmd_info)
    return parser


class _DefaultsHelp(argparse.HelpFormatter):
    """``--help`` states every default (as ArgumentDefaultsHelpFormatter), unless the text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        # None and False mean "not given" (no value to state); identity checks, so 0 still shows.
        if d is None or d is False or d is argparse.SUPPRESS or (isinstance(d, list) and not d):
            return text
        if "default" in text.lower():
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump): ``smplestx: error: infer: argument --x: ...``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _DefaultsHelp)  # subcommands' parsers are _Parser too
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"smplestx: error: {self.prog.removeprefix('smplestx').strip() or 'smplestx'}: {message}\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM (schedulers, containers, `timeout`), handled like Ctrl-C: finished outputs stay, partial ones go."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smplestx`` command."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line usage error
        return int(exc.code or 0)
    fmt = "%(levelname)s %(name)s: %(message)s" if args.verbose else "smplestx: %(message)s"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format=fmt)
    for library in ("huggingface_hub", "transformers"):
        # They print through a handler of their own; propagating too would print every line twice.
        logging.getLogger(library).propagate = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except Terminated:
        print("smplestx: terminated (SIGTERM); finished outputs are complete, a rerun resumes", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("smplestx: interrupted", file=sys.stderr)
        return 130
    except (SmplestxError, OSError) as exc:
        # A user-caused error (bad option, missing or malformed file, full disk) is one line; the
        # traceback only on request, for a bug report.
        if args.verbose:
            traceback.print_exc()
        print(f"smplestx: error: {exc}", file=sys.stderr)
        return 2
    except Exception:
        # Anything else is a bug, not a user mistake: show where it happened.
        traceback.print_exc()
        print("smplestx: internal error (a bug); please report it with the traceback above", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
