"""Crops/s of the SMPLest-X / SMPLer-X forward (network + SMPL-X) per size, batch and dtype; prints a markdown table.

Weights are random (speed does not depend on them). The "reference-style" row runs the
same weights the way the reference implementation does: eager softmax attention and
the `smplx` package's SMPL-X layer (if installed), to measure what our forward gains.

    python benchmarks/bench_model.py --sizes S B --batches 1 8 32 --dtypes fp32 bf16
    python benchmarks/bench_model.py --families smplest_x smpler_x --sizes S --batches 1 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from smplestx.body import BodyModel
from smplestx.models.config import DTYPES
from smplestx.models.smplest_x import SMPLEST_X_PRESETS
from smplestx.models.smpler_x import smpler_x_preset
from smplestx.models.smplest_x import SMPLestX
from smplestx.models.smpler_x import SMPLerX
from smplestx.nn.network import SMPLestXNet
from smplestx.nn.smpler_x import SMPLerXNet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_style import reference_style  # noqa: E402



def time_forward(model: SMPLestX, batch: int, dtype: torch.dtype, device: str, repeats: int) -> float:
    """Median seconds per forward of ``batch`` crops after one warm-up."""
    x = torch.rand(batch, 3, 512, 384, device=device)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            if dtype == torch.float32:
                model(x)
            else:
                with torch.autocast(device_type=device, dtype=dtype):
                    model(x)
            if device == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def vertex_error_mm(model: SMPLestX, dtype: torch.dtype, device: str) -> tuple[float, float]:
    """Mean vertex distance (mm) of a low-precision forward against fp32 on the same crops.

    Returns (absolute, root-relative): the first includes the predicted camera translation
    (depth is a sigmoid of one network output, so random weights make it sensitive); the
    second compares the posed, shaped mesh with its pelvis placed at the origin.
    """
    torch.manual_seed(0)
    x = torch.rand(4, 3, 512, 384, device=device)
    with torch.inference_mode():
        ref = model(x)
        with torch.autocast(device_type=device, dtype=dtype):
            low = model(x)
    absolute = (ref.vertices - low.vertices).norm(dim=-1).mean()
    rel = lambda p: p.vertices - p.joints_cam[:, :1]  # noqa: E731
    relative = (rel(ref) - rel(low)).norm(dim=-1).mean()
    return float(absolute * 1000), float(relative * 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["S", "B", "L", "H"])
    parser.add_argument("--families", nargs="+", default=["smplest_x"], choices=["smplest_x", "smpler_x"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=list(DTYPES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--body-models", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "parity" / "smplx")
    parser.add_argument("--reference-style", action="store_true", help="also time eager attention + the smplx package")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    body = BodyModel.from_dir(args.body_models, device=args.device)
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}\n")
    print("| model | size | params (M) | variant | dtype | batch | ms / batch | crops/s | vertex err vs fp32, absolute / root-relative (mm) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for family, size in ((f, s) for f in args.families for s in args.sizes):
        torch.manual_seed(0)
        if family == "smpler_x":
            label, net = "SMPLer-X", SMPLerXNet(smpler_x_preset(size)).to(args.device).eval()
            ours: SMPLestX = SMPLerX(net, body).eval()
        else:
            label, net = "SMPLest-X", SMPLestXNet(SMPLEST_X_PRESETS[size]).to(args.device).eval()
            ours = SMPLestX(net, body).eval()
        n_params = sum(p.numel() for p in net.parameters()) / 1e6
        variants = [("ours (sdpa)", ours)]
        if args.reference_style and family == "smplest_x":
            variants.append(("reference-style (eager + smplx pkg)", reference_style(ours, args.body_models).to(args.device)))
        for variant, model in variants:
            for dname in args.dtypes:
                if variant.startswith("reference") and dname != "fp32":
                    continue
                err = "" if dname == "fp32" else "{:.1f} / {:.1f}".format(*vertex_error_mm(model, DTYPES[dname], args.device))
                for batch in args.batches:
                    sec = time_forward(model, batch, DTYPES[dname], args.device, args.repeats)
                    print(f"| {label} | {size} | {n_params:.0f} | {variant} | {dname} | {batch} | {sec * 1000:.0f} | {batch / sec:.2f} | {err} |")
                    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
