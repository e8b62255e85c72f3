"""One prepared GPU session: crops/s per size, dtype, batch and compile mode, peak memory, and the video pipeline.

Device time is short and lent by chance, so everything is measured in a single run and written
as markdown tables (stdout) plus a JSON file. Weights are random (speed does not depend on them).

    python benchmarks/bench_gpu.py --out gpu.json                 # the whole plan (~6 min on an H100/H200)
    python benchmarks/bench_gpu.py --device cpu --quick           # a smoke run of the same code on a CPU

Parts: (1) network + SMPL-X forward, crops/s for S/B/L/H x fp32/bf16/fp16 x batch 1/8/32/64 (eager), and
with ``torch.compile`` (default, and "reduce-overhead" = CUDA graphs for the fixed crop shape) for the
sizes and batches named by --compile-sizes/--compile-batches; peak memory. (2) the end-to-end video
pipeline on a 1080p clip with 1 and 4 people: decode alone, crops alone (OpenCV on the CPU vs cut on
the device), and the whole ``smplestx infer`` job, in frames/s, to say where it stalls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.models.config import DTYPES
from smplestx.models.smplest_x import SMPLEST_X_PRESETS
from smplestx.geometry.crops import crop_image, crop_images_torch, process_box
from smplestx.models.smplest_x import SMPLestX
from smplestx.nn.network import SMPLestXNet
from smplestx.pipeline.detectors import BoxesFileDetector
from smplestx.pipeline.estimator import Estimator
from smplestx.pipeline.run import InferenceRun, InferOptions
from smplestx.pipeline.sources import open_source
from smplestx.synthetic.scene import write_demo_media
from smplestx.synthetic.smplx_model import write_synthetic_body


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str, repeats: int) -> float:
    """Median seconds of ``fn`` after two warm-up calls (compilation and CUDA graph capture happen there)."""
    for _ in range(2):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_forward(args: argparse.Namespace, body: BodyModel, rows: list[dict]) -> None:
    """Part 1: crops/s and peak memory of the whole forward (network + SMPL-X)."""
    print("| size | dtype | compile | batch | ms / batch | crops/s | peak memory (GiB) |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        torch.manual_seed(0)
        net = SMPLestXNet(SMPLEST_X_PRESETS[size]).to(args.device).eval()
        for dname in args.dtypes:
            dtype = DTYPES[dname]
            # Pure low-precision weights (as load_model(dtype=...) does); the body model stays float32.
            model = SMPLestX(net.to(dtype) if dtype != torch.float32 else net, body).eval()
            modes = ["eager"] + (args.compile_modes if size in args.compile_sizes else [])
            for mode in modes:
                run_model: Callable[[torch.Tensor], Any] = model.predict_crops
                if mode != "eager":
                    torch._dynamo.reset()
                    run_model = torch.compile(model.predict_crops, mode=None if mode == "default" else mode, dynamic=False)
                for batch in args.batches:
                    if mode != "eager" and batch not in args.compile_batches:
                        continue
                    x = torch.rand(batch, 3, 512, 384, device=args.device)
                    row = {"part": "forward", "size": size, "dtype": dname, "compile": mode, "batch": batch}
                    try:
                        if args.device.startswith("cuda"):
                            torch.cuda.reset_peak_memory_stats()
                        with torch.inference_mode():
                            sec = timed(lambda: run_model(x), args.device, args.repeats)
                        peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else float("nan")
                        row.update(ms=sec * 1000, crops_per_s=batch / sec, peak_gib=peak)
                        print(f"| {size} | {dname} | {mode} | {batch} | {sec * 1000:.1f} | {batch / sec:.1f} | {peak:.2f} |")
                    except Exception as exc:  # noqa: BLE001 - one failed configuration must not end the session
                        row["error"] = f"{type(exc).__name__}: {exc}"[:300]
                        print(f"| {size} | {dname} | {mode} | {batch} | failed: {row['error'][:80]} | | |")
                    rows.append(row)
                    sys.stdout.flush()
            net = net.float()
        del net, model
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()


def bench_pipeline(args: argparse.Namespace, body_dir: Path, body: BodyModel, work: Path, rows: list[dict]) -> None:
    """Part 2: where the video pipeline spends its time (decode, crops, network) and its frames/s."""
    torch.manual_seed(0)
    net = SMPLestXNet(SMPLEST_X_PRESETS[args.pipeline_size]).to(args.device).eval()
    dtype = DTYPES[args.pipeline_dtype]
    model = SMPLestX(net.to(dtype) if dtype != torch.float32 else net, body).eval()
    w, h = args.resolution
    print(f"\nvideo pipeline: {args.pipeline_size} {args.pipeline_dtype}, {w}x{h}, {args.frames} frames, batch {args.batch_size}\n")
    print("| people | decode only | crops only, OpenCV | crops only, on device | whole run, OpenCV crops | "
          "whole run, device crops | whole run + overlay video |")
    print("|---|---|---|---|---|---|---|")
    for people in args.people:
        video, boxes_file, _ = write_demo_media(work / f"people{people}.mp4", body_dir, people=people, frames=args.frames,
                                             width=w, height=h)
        detector = BoxesFileDetector(boxes_file)
        frames = []
        start = time.perf_counter()
        with open_source(video) as source:
            for frame in source:
                frames.append(frame)
        decode = len(frames) / (time.perf_counter() - start)
        boxes = []
        for f in frames:
            dets = detector.detect(f.image, f.index, video)
            boxes.append([process_box(np.array([x1, y1, x2 - x1, y2 - y1]), w, h) for x1, y1, x2, y2 in dets.boxes_xyxy])
        boxes = [[b for b in bs if b is not None] for bs in boxes]

        def crops_cv() -> None:
            for f, bs in zip(frames, boxes):
                torch.from_numpy(np.stack([crop_image(f.image, b).patch for b in bs])).to(args.device)

        def crops_dev() -> None:
            for f, bs in zip(frames, boxes):
                crop_images_torch(torch.from_numpy(f.image).to(args.device), bs)

        cv_fps = len(frames) / timed(crops_cv, args.device, 1)
        dev_fps = len(frames) / timed(crops_dev, args.device, 1)
        runs = {}
        for name, crop_device, render in (("opencv", "opencv", False), ("device", "torch", False), ("overlay", "auto", True)):
            est = Estimator(model=model, detector=detector, device=args.device, dtype=args.pipeline_dtype,
                            batch_size=args.batch_size, keep_vertices=render, crop_device=crop_device)
            out = work / f"out_{people}_{name}"
            start = time.perf_counter()
            summary = InferenceRun(est, InferOptions(output=out, render=render, track=True, overwrite=True)).run([video])
            runs[name] = summary.frames / (time.perf_counter() - start)
        print(f"| {people} | {decode:.1f} | {cv_fps:.1f} | {dev_fps:.1f} | {runs['opencv']:.1f} | {runs['device']:.1f} | "
              f"{runs['overlay']:.1f} |")
        rows.append({"part": "pipeline", "people": people, "decode_fps": decode, "crops_opencv_fps": cv_fps,
                     "crops_device_fps": dev_fps, **{f"run_{k}_fps": v for k, v in runs.items()}})
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", nargs="+", default=["S", "B", "L", "H"])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16", "fp16"], choices=list(DTYPES))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32, 64])
    parser.add_argument("--compile-sizes", nargs="*", default=["S", "H"])
    parser.add_argument("--compile-batches", nargs="*", type=int, default=[1, 64])
    parser.add_argument("--compile-modes", nargs="*", default=["default", "reduce-overhead"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pipeline-size", default="H", choices=list(SMPLEST_X_PRESETS))
    parser.add_argument("--pipeline-dtype", default="bf16", choices=list(DTYPES))
    parser.add_argument("--resolution", nargs=2, type=int, default=[1920, 1080], metavar=("W", "H"))
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--people", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip-forward", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke run: S, fp32, batch 1, no compile, 3 small frames")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.dtypes, args.batches, args.compile_sizes, args.repeats = ["S"], ["fp32"], [1], [], 1
        args.pipeline_size, args.pipeline_dtype, args.resolution, args.frames = "S", "fp32", [320, 240], 3
        args.people, args.batch_size = [1], 4
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here; use --device cpu --quick for a smoke run", file=sys.stderr)
        return 2
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True  # what a user gets with set_float32_matmul_precision("high")
        name = torch.cuda.get_device_name()
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}\n")
    work = Path(tempfile.mkdtemp(prefix="smplestx_gpu_"))
    body_dir = write_synthetic_body(work / "body").parent
    body = BodyModel.from_dir(body_dir, device=args.device)
    rows: list[dict] = []
    if not args.skip_forward:
        bench_forward(args, body, rows)
    if not args.skip_pipeline:
        bench_pipeline(args, body_dir, body, work, rows)
    if args.out is not None:
        args.out.write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
