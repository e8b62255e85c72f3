"""The ``smplestx`` command line: argument parsing and one-line errors; the work lives in the library."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__

log = logging.getLogger("smplestx")


def _cmd_convert(args: argparse.Namespace) -> int:
    import time

    from .checkpoint import convert_checkpoint

    start = time.perf_counter()
    cfg = convert_checkpoint(args.input, args.output, config=args.config, dtype=args.dtype)
    e = cfg.encoder
    print(
        f"wrote {args.output} ({args.dtype}; encoder {e.embed_dim}x{e.depth}, {e.num_heads} heads) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _cmd_synthetic_body(args: argparse.Namespace) -> int:
    from .body.synthetic import write_synthetic_body

    folder = write_synthetic_body(args.output, seed=args.seed)
    print(f"wrote a synthetic (license-free) SMPL-X model to {folder}")
    return 0


def _cmd_synthetic_media(args: argparse.Namespace) -> int:
    from .data.synthetic_scene import write_demo_media

    media, boxes = write_demo_media(args.output, args.body_models, people=args.people, frames=args.frames,
                                    width=args.width, height=args.height, fps=args.fps)
    print(f"wrote {media} and its true person boxes {boxes} (use --detector boxes:{boxes})")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import json

    from .checkpoint import read_checkpoint, resolve_config

    state, stored = read_checkpoint(args.checkpoint)
    cfg = resolve_config(state, stored, args.config, args.checkpoint)
    n = sum(v.numel() for v in state.values())
    print(json.dumps({"parameters": n, "tensors": len(state), "config": cfg.to_dict()}, indent=2))
    return 0


class _Progress:
    """A one-line progress display on stderr: frames done and frames/s."""

    def __init__(self, enabled: bool) -> None:
        # Carriage-return updates only make sense on a terminal, not in a log file.
        self.enabled = enabled and sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, frames: int, seconds: float) -> None:
        if not self.enabled or seconds - self.last < 0.25:
            return
        self.last = seconds
        print(f"\r{frames} frames  {frames / max(seconds, 1e-9):.2f} frames/s", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def _cmd_infer(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .pipeline.estimator import Estimator
    from .pipeline.run import InferenceRun, InferOptions, check_output_dir

    if args.stride < 1:
        raise ValueError("--stride must be >= 1")
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
    )
    # Everything a user can get wrong about the setup fails here, before any frame is read.
    check_output_dir(options.output)
    estimator = Estimator(
        args.checkpoint,
        args.body_models,
        config=args.config,
        detector=args.detector,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        score_threshold=args.score_threshold,
        nms_iou=args.nms_iou,
        max_people=args.max_people,
        largest=args.largest,
        keep_vertices=options.render or options.save_vertices or options.save_mesh is not None,
    )
    if not args.quiet:
        print(f"smplestx: device {estimator.device}, detector {estimator.detector.name}", file=sys.stderr)
    progress = _Progress(not args.quiet)
    try:
        summary = InferenceRun(estimator, options, progress).run(args.inputs)
    finally:
        progress.done()
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="smplestx", description="SMPLest-X whole-body human pose and shape estimation")
    parser.add_argument("--version", action="version", version=f"smplestx {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("infer", help="estimate SMPL-X for everyone in images, folders and videos")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or video files")
    p.add_argument("--checkpoint", required=True, help="official .pth.tar or converted .safetensors")
    p.add_argument("--config", help="official config_base.py (read as data)")
    p.add_argument("--body-models", required=True, help="folder holding smplx/SMPLX_NEUTRAL.npz (or the smplx/ folder)")
    p.add_argument("--output", default="smplestx_out", help="output folder (default: ./smplestx_out)")
    p.add_argument("--detector", default="auto", help="auto | full | boxes:FILE | torchvision[:WEIGHTS] | yolo:WEIGHTS")
    p.add_argument("--recursive", action="store_true", help="descend into subfolders of folder inputs")
    p.add_argument("--start", type=float, help="video start time in seconds")
    p.add_argument("--end", type=float, help="video end time in seconds")
    p.add_argument("--stride", type=int, default=1, help="use every N-th video frame")
    p.add_argument("--batch-size", type=int, default=16, help="crops per network batch")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"), help="network precision")
    p.add_argument("--score-threshold", type=float, default=0.5, help="minimum detector score")
    p.add_argument("--nms-iou", type=float, default=0.5, help="IoU above which overlapping boxes are merged")
    p.add_argument("--max-people", type=int, help="keep at most N people per frame (the largest)")
    p.add_argument("--largest", action="store_true", help="keep only the largest person per frame")
    p.add_argument("--json", action="store_true", help="also write results as JSON")
    p.add_argument("--save-vertices", action="store_true", help="store mesh vertices in the results file")
    p.add_argument("--save-mesh", choices=("obj", "ply", "glb"), help="write meshes (a file per person, or a GLB scene per frame)")
    p.add_argument("--no-render", action="store_true", help="skip the overlay images/videos")
    p.add_argument("--draw-keypoints", action="store_true", help="draw 2D joints on the overlay")
    p.add_argument("--draw-boxes", action="store_true", help="draw detector boxes on the overlay")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=_cmd_infer)

    p = sub.add_parser("convert", help="convert an official .pth.tar checkpoint to safetensors")
    p.add_argument("input", help="official checkpoint (.pth.tar) or safetensors")
    p.add_argument("output", help="output .safetensors path")
    p.add_argument("--config", help="official config_base.py (read as data); default: inferred from tensor shapes")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32", help="stored weight dtype")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("synthetic-body", help="write a license-free synthetic SMPL-X model folder")
    p.add_argument("output", help="folder to create; the model goes to OUTPUT/smplx/")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.set_defaults(func=_cmd_synthetic_body)

    p = sub.add_parser("synthetic-media", help="render an image or video of mannequins (for demos and benchmarks)")
    p.add_argument("output", help="an image (.png, .jpg) or video (.mp4, ...) path")
    p.add_argument("--body-models", required=True, help="an SMPL-X model folder (e.g. from synthetic-body)")
    p.add_argument("--people", type=int, default=2)
    p.add_argument("--frames", type=int, default=30, help="video frames")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=float, default=10.0)
    p.set_defaults(func=_cmd_synthetic_media)

    p = sub.add_parser("info", help="print a checkpoint's size and model config")
    p.add_argument("checkpoint")
    p.add_argument("--config", help="official config_base.py")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smplestx`` command."""
    args = build_parser().parse_args(argv)
    fmt = "%(levelname)s %(name)s: %(message)s" if args.verbose else "smplestx: %(message)s"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format=fmt)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("smplestx: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        # Every user-caused error (missing file, bad checkpoint/config) is one line, no traceback.
        print(f"smplestx: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
