"""Training throughput per size: data loading apart from compute (forward + backward + optimizer step); prints tables.

Compute runs the trainer's own ``Trainer.train_step`` on one fixed, already collated batch, so the figure is what
the GPU (or CPU) sustains when the loaders keep up; data loading is timed separately, one sample at a time in one
process (the work of one loader worker: read + decode + crop/augment + targets), on synthetic mannequin images.
Variants: fp32 vs bf16 autocast, sdpa vs eager attention, with and without gradient checkpointing.

    python benchmarks/bench_train.py --sizes tiny S --batch 4 --iters 3
    python benchmarks/bench_train.py --sizes S B L H --batch 16 --iters 10 --device cuda
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from smplestx.train.config import load_train_config
from smplestx.train.samples import HumanDataTrainSet
from smplestx.train.trainer import Trainer

#: "tiny" is the parity fixtures' network (encoder 64 x 2 blocks); the others are the released sizes.
SIZES = {
    "tiny": ['model.size="S"', "model.embed_dim=64", "model.depth=2", "model.num_heads=4", "model.dim_out=32"],
    **{s: [f'model.size="{s}"'] for s in "SBLH"},
}
PARITY_BODY = Path(__file__).resolve().parents[2] / "shared" / "parity"


def make_data(folder: Path, num: int, body_models: Path | None) -> tuple[HumanDataTrainSet, Path]:
    """A synthetic HumanData training set of ``num`` images (one person each)."""
    from smplestx.synthetic.dataset import write_synthetic_dataset

    npz = write_synthetic_dataset(folder, num, seed=0, body_models=body_models, people_per_image=1)
    body = body_models or folder / "body_models"
    return HumanDataTrainSet(npz, folder / "images", seed=0, augment=True, body_models=body), body


def time_data(ds: HumanDataTrainSet, count: int) -> float:
    """Median seconds to build one augmented sample (one worker)."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        ds[i % len(ds)]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_compute(size: str, body: Path, ds: HumanDataTrainSet, batch: int, amp: str, attention: str,
                 ckpt: bool, device: str, warmup: int, iters: int, out: Path) -> tuple[float, float, float]:
    """(median seconds per training step, params in M, peak GPU memory in GiB or nan) for one variant."""
    cfg = load_train_config(None, [
        *SIZES[size], f'model.body_models="{body}"', f'model.attention="{attention}"',
        f"model.grad_checkpointing={'true' if ckpt else 'false'}", f'train.amp="{amp}"', f"train.batch_size={batch}",
        f'train.device="{device}"', f'train.output_dir="{out}"', "train.tensorboard=false",
    ])
    trainer = Trainer(cfg, dataset=ds)
    inputs, targets, meta = default_collate([ds[i % len(ds)] for i in range(batch)])
    dev = trainer.info.device
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for i in range(warmup + iters):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        trainer.train_step(inputs, targets, meta)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    params = sum(p.numel() for p in trainer.net.parameters()) / 1e6
    peak = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")
    del trainer
    return statistics.median(times), params, peak


def main() -> None:
    """Parse arguments, run every size x variant, print markdown tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["tiny", "S"], choices=list(SIZES))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", nargs="+", default=["none", "bf16"], choices=["none", "bf16", "fp16"])
    p.add_argument("--attention", nargs="+", default=["sdpa", "eager"], choices=["sdpa", "eager"])
    p.add_argument("--ckpt", nargs="+", default=["off", "on"], choices=["off", "on"])
    p.add_argument("--body-models", type=Path, help="SMPL-X folder (default: the parity one, else a synthetic one)")
    p.add_argument("--data-samples", type=int, default=24, help="samples timed for the data-loading figure")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    body_models = args.body_models or (PARITY_BODY if (PARITY_BODY / "smplx").is_dir() else None)
    with tempfile.TemporaryDirectory() as tmp:
        ds, body = make_data(Path(tmp) / "data", max(8, args.batch), body_models)
        per_sample = time_data(ds, args.data_samples)
        dev = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
        name = torch.cuda.get_device_name() if dev.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
        print(f"device: {name}; torch {torch.__version__}; batch {args.batch}; median of {args.iters} steps after {args.warmup} warm-up\n")
        print("Data loading (one worker: read + decode + crop/augment + targets, synthetic 640x480 JPEGs):")
        print(f"{per_sample * 1e3:.1f} ms / sample = {1 / per_sample:.1f} samples/s per worker\n")
        print("| size | params (M) | precision | attention | grad ckpt | step ms (fwd+bwd+opt) | samples/s | peak GPU mem (GiB) |")
        print("|---|---|---|---|---|---|---|---|")
        for k, (size, amp, attention, ckpt) in enumerate(itertools.product(args.sizes, args.amp, args.attention, args.ckpt)):
            step, params, peak = time_compute(size, body, ds, args.batch, amp, attention, ckpt == "on", dev,
                                              args.warmup, args.iters, Path(tmp) / f"run{k}")
            mem = "-" if peak != peak else f"{peak:.2f}"
            prec = "fp32" if amp == "none" else amp
            print(f"| {size} | {params:.1f} | {prec} | {attention} | {ckpt} | {step * 1e3:.0f} | {args.batch / step:.2f} | {mem} |",
                  flush=True)


if __name__ == "__main__":
    main()
