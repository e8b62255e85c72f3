"""Evaluation throughput: the metric stages per sample, and a whole ``EvalRun`` on a synthetic test set.

Prints a markdown table. The stages are timed apart (GT meshes from parameters, corrected-mode metrics,
reference-mode metrics), then the full loop (image decode + crop in threads, network, GT + metrics overlapped
with the next batch, CSV writes) with the network of the chosen size (random weights: speed only).

Usage: python benchmarks/bench_eval.py [--num 32] [--size tiny|S|B|L|H] [--batch 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from smplestx.models.smplest_x import SMPLestXConfig, preset
from smplestx.synthetic.dataset import write_synthetic_dataset
from smplestx.evaluate import EvalAssets, EvalOptions, EvalRun, get_benchmark, mesh_metrics_per_sample
from smplestx.evaluate.samples import GroundTruthBuilder, build_test_samples
from smplestx.models.smplest_x import SMPLestX
from smplestx.body import BodyModel
from smplestx.nn.network import SMPLestXNet


def tiny_config() -> SMPLestXConfig:
    """The parity fixtures' network size (encoder 64 wide, 2 blocks)."""
    d = preset("S").to_dict()
    d["encoder"].update(embed_dim=64, depth=2, num_heads=4)
    d["decoder"].update(feat_dim=64, dim_out=32)
    return SMPLestXConfig.from_dict(d)


def timed(fn, repeats: int = 3) -> float:
    """Best of ``repeats`` wall times, seconds."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=32, help="synthetic test images (1-2 people each)")
    ap.add_argument("--size", default="tiny", help="tiny, S, B, L or H")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_synthetic_dataset(data, args.num, seed=1, split="test")
        body_dir = data / "body_models"
        bench = get_benchmark("synthetic")
        found = build_test_samples(bench.open(data), bench.image_root(data), bench.rules)
        samples = found.samples
        n = len(samples)
        gt_builder = GroundTruthBuilder(body_dir, bench.rules)
        gt = gt_builder.meshes(samples)
        pred = gt + np.random.default_rng(0).normal(0, 0.01, gt.shape).astype(np.float32)
        assets = EvalAssets.from_dir(body_dir)
        rows = [
            ("GT meshes (gendered SMPL-X layer)", timed(lambda: gt_builder.meshes(samples))),
            ("metrics, corrected mode", timed(lambda: mesh_metrics_per_sample(pred, gt, 1.0, 1.0, body_models=assets))),
            ("metrics, reference mode", timed(lambda: mesh_metrics_per_sample(pred, gt, 1.0, 1.0, body_models=assets,
                                                                              mode="reference"))),
        ]
        cfg = tiny_config() if args.size == "tiny" else preset(args.size)
        model = SMPLestX(SMPLestXNet(cfg), BodyModel.from_dir(body_dir, device=args.device)).to(args.device).eval()
        out = Path(tmp) / "out"

        def full_run() -> None:
            import shutil

            shutil.rmtree(out, ignore_errors=True)
            EvalRun(bench, data, model, body_dir, out, EvalOptions(batch_size=args.batch)).run()

        full_run()  # warm-up
        rows.append((f"whole EvalRun, {args.size} network, batch {args.batch}", timed(full_run, 2)))
    print(f"{n} samples, {torch.get_num_threads()} threads, device {args.device}\n")
    print("| stage | ms / sample | samples/s |\n|---|---|---|")
    for name, sec in rows:
        print(f"| {name} | {sec / n * 1000:.1f} | {n / sec:.1f} |")


if __name__ == "__main__":
    main()
