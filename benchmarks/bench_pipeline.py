"""End-to-end `smplestx infer` frames/s on generated videos: batched vs one crop at a time.

Renders a video of 1 and of 4 mannequins from the synthetic body model, then runs the full
pipeline (decode, boxes, crops, network, SMPL-X, results file, optional overlay video) with
crops batched across frames, and the same pipeline with batch size 1 (one crop at a time, as
the reference implementation runs). Prints a markdown table.

    python benchmarks/bench_pipeline.py --size S --frames 24
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import torch

from smplestx.body import BodyModel
from smplestx.synthetic.smplx_model import write_synthetic_body
from smplestx.models.smplest_x import SMPLEST_X_PRESETS
from smplestx.synthetic.scene import write_demo_media
from smplestx.models.loading import auto_attention, load_model
from smplestx.models.smplest_x import SMPLestX
from smplestx.nn.int8 import quantize_linears
from smplestx.nn.network import SMPLestXNet
from smplestx.pipeline.detectors import BoxesFileDetector
from smplestx.pipeline.estimator import Estimator
from smplestx.pipeline.run import InferenceRun, InferOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_style import reference_style  # noqa: E402

PARITY = Path(__file__).resolve().parents[2] / "shared" / "parity"


def build_model(size: str, body_dir: Path) -> SMPLestX:
    """The tiny parity checkpoint, or a released size with random weights (speed only)."""
    if size == "tiny":
        tiny = PARITY / "smplest_x_tiny"
        return load_model(tiny / "smplest_x_tiny.pth.tar", body_models=body_dir, config=tiny / "config_base.py")
    torch.manual_seed(0)
    return SMPLestX(SMPLestXNet(SMPLEST_X_PRESETS[size]).eval(), BodyModel.from_dir(body_dir)).eval()


def time_run(model: SMPLestX, video: Path, boxes: Path, out: Path, batch: int, render: bool, dtype: str = "fp32") -> tuple[float, int]:
    """Seconds for one whole run, and frames processed."""
    if dtype == "int8":
        model = SMPLestX(quantize_linears(copy.deepcopy(model.net)), model.body).eval()  # what --dtype int8 loads
    elif dtype != "fp32":
        model = model.to(torch.bfloat16 if dtype == "bf16" else torch.float16)
        model.body.to(torch.float32)  # the body model stays float32, as load_model does
    if dtype != "fp32":
        model.set_attention(auto_attention(dtype, "cpu"))  # the kernel load_model's attention="auto" picks
    est = Estimator(model=model, detector=BoxesFileDetector(boxes), device="cpu", dtype=dtype, batch_size=batch,
                    keep_vertices=render)
    start = time.perf_counter()
    summary = InferenceRun(est, InferOptions(output=out, render=render)).run([video])
    return time.perf_counter() - start, summary.frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S", choices=["tiny", *SMPLEST_X_PRESETS])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--people", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="smplestx_bench_"))
    body_dir = write_synthetic_body(work / "body").parent
    model = build_model(args.size, body_dir)
    print(f"model {args.size}; {args.width}x{args.height} video, {args.frames} frames; CPU, {torch.get_num_threads()} threads; "
          f"torch {torch.__version__}\n")
    ref = reference_style(model, body_dir)
    bs = args.batch_size
    print(f"| people | overlay | reference-style, one crop at a time | ours, one crop at a time | ours, batched x{bs} | "
          f"ours, batched x{bs}, bf16 | ours, batched x{bs}, int8 | batched vs reference-style | batched vs one at a time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.people:
        video, boxes, _ = write_demo_media(work / f"people{n}.mp4", body_dir, people=n, frames=args.frames,
                                        width=args.width, height=args.height)
        for render in (False, True):
            time_run(model, video, boxes, work / "warmup", bs, render)  # warm-up
            reference, frames = time_run(ref, video, boxes, work / "ref", 1, render)
            single, _ = time_run(model, video, boxes, work / "single", 1, render)
            batched, _ = time_run(model, video, boxes, work / "batched", bs, render)
            low, _ = time_run(build_model(args.size, body_dir), video, boxes, work / "bf16", bs, render, "bf16")
            int8, _ = time_run(model, video, boxes, work / "int8", bs, render, "int8")
            fps = [frames / t for t in (reference, single, batched, low, int8)]
            print(f"| {n} | {'yes' if render else 'no'} | " + " | ".join(f"{f:.2f}" for f in fps)
                  + f" | {reference / batched:.2f}x | {single / batched:.2f}x |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
