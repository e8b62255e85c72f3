"""Throughput of the SMPL-X layer on CPU (float32, no grad): ours vs the ``smplx`` package, as a markdown table.

Usage: python benchmarks/bench_body.py [--model-dir DIR] [--batches 1 64 1024] [--repeats 7] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

from smplestx.body import BodyModel, resolve_model_dir

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "parity"


def make_inputs(batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random SMPL-X parameters (axis-angle poses ~ N(0, 0.5 rad), betas / expression ~ N(0, 1))."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    return {
        "global_orient": randn(batch, 3, scale=0.5),
        "body_pose": randn(batch, 63, scale=0.5),
        "left_hand_pose": randn(batch, 45, scale=0.5),
        "right_hand_pose": randn(batch, 45, scale=0.5),
        "jaw_pose": randn(batch, 3, scale=0.5),
        "leye_pose": randn(batch, 3, scale=0.5),
        "reye_pose": randn(batch, 3, scale=0.5),
        "betas": randn(batch, 10),
        "expression": randn(batch, 10),
        "transl": randn(batch, 3),
    }


def time_calls(fns: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per call; the candidates are interleaved so that machine load hits them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(s) for name, s in samples.items()}


def load_smplx_reference(model_dir: Path) -> torch.nn.Module | None:
    """The smplx package's SMPL-X model on the same file, or None when smplx is not installed."""
    try:
        import smplx
    except ImportError:
        return None
    folder = resolve_model_dir(model_dir)
    if folder.name == "smplx":
        root = folder.parent
    else:  # smplx.create wants a folder that holds smplx/
        root = Path(tempfile.mkdtemp(prefix="bench_body_"))
        (root / "smplx").mkdir()
        (root / "smplx" / "SMPLX_NEUTRAL.npz").symlink_to(folder / "SMPLX_NEUTRAL.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smplx.create(
            str(root), "smplx", gender="neutral", use_pca=False, use_face_contour=True,
            num_betas=10, num_expression_coeffs=10, flat_hand_mean=False,
        )


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    ours = BodyModel.from_dir(args.model_dir)
    ref = load_smplx_reference(args.model_dir)

    rows = []
    for batch in args.batches:
        inputs = make_inputs(batch)
        fns: dict[str, Callable[[], object]] = {"ours": lambda: ours(**inputs)}
        if ref is not None:
            fns["smplx"] = lambda: ref(**inputs)
        repeats = args.repeats if batch < 512 else max(3, args.repeats // 2)
        with torch.no_grad():
            if ref is not None:
                diff = (ours(**inputs).vertices - ref(**inputs).vertices).abs().max().item()
            else:
                diff = float("nan")
            secs = time_calls(fns, repeats, args.warmup)
        rows.append((batch, secs, diff))

    print(f"SMPL-X forward, CPU float32, torch.no_grad, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} runs after {args.warmup} warm-up; model {args.model_dir}")
    print()
    print("| batch | ours (people/s) | smplx 0.1.28 (people/s) | speed-up | ours ms/call | max |dv| vs smplx (m) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for batch, secs, diff in rows:
        o = batch / secs["ours"]
        if "smplx" in secs:
            r = batch / secs["smplx"]
            print(f"| {batch} | {o:,.0f} | {r:,.0f} | {o / r:.2f}x | {secs['ours'] * 1e3:.2f} | {diff:.1e} |")
        else:
            print(f"| {batch} | {o:,.0f} | n/a | n/a | {secs['ours'] * 1e3:.2f} | n/a |")


if __name__ == "__main__":
    main()
