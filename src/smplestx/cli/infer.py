"""`smplestx infer`: estimate SMPL-X for everyone in images, folders and videos."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from ..progress import ProgressLine
from .common import _number, _POSITIVE_INT, _SECONDS, _FRACTION, _add_model_args, _model_arg


def _unusable_inputs(inputs: Sequence[str]) -> list[str]:
    """Why each input that is not a folder cannot be read (missing, unsupported); the run reports them again."""
    from ..pipeline.sources import MediaError, collect_inputs

    problems = []
    for item in inputs:
        if Path(item).is_dir():
            continue  # listed once, by the run (an empty folder is reported there)
        try:
            collect_inputs([item])
        except MediaError as exc:
            problems.append(str(exc))
    return problems


def _cmd_infer(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..pipeline.estimator import Estimator
    from ..pipeline.run import InferenceRun, InferOptions, check_output_dir
    from ..geometry.scene_camera import scene_camera_from_options
    from ..sharding import resolve_shard

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
    from ..motion.smoothing import parse_method

    parse_method(args.smooth)  # a typo fails now, not after the whole video
    # Everything a user can get wrong about the setup fails here, before any frame is read or byte downloaded.
    check_output_dir(options.output)
    unusable = _unusable_inputs(args.inputs)
    if len(unusable) == len(args.inputs):
        print(f"smplestx: {len(unusable)} input(s) failed: " + "; ".join(unusable), file=sys.stderr)
        return 1
    detector = args.detector
    if detector.partition(":")[0] == "boxes":
        from ..pipeline.detectors import make_detector

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


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
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
