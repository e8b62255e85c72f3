"""Accuracy of `synthetic-tiny` on held-out synthetic people, from pixels: the table of docs/benchmarks.md.

    python benchmarks/bench_synthetic_tiny.py [--work /tmp/bench_tiny] [--images 300] [--checkpoint FILE]

Renders the held-out scenes (seed 1000: never used in training; the same settings as the training set) with
the synthetic body of seed 0 once into ``--work``, runs the model on every person from a box of the truth with
jitter, and prints the scores against the goals of issue 22, then the learning curve stored in the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from smplestx.models.checkpoint import read_metadata
from smplestx.evaluate.heldout import evaluate_heldout
from smplestx.models.loading import load_model
from smplestx.models.precision_tuning import cpu_identity
from smplestx.synthetic.dataset import write_synthetic_dataset
from smplestx.synthetic.smplx_model import write_synthetic_body
from smplestx.models.zoo import resolve_model

#: The held-out split: the training set's settings, another seed.
HELDOUT = dict(seed=1000, split="test", image_size=(256, 192), people_per_image=(1, 2), truncation=0.2, occlusion=0.3)


def prepare(work: Path, images: int) -> Path:
    """The held-out annotation file under ``work`` (rendered once)."""
    body = work / "body_models"
    if not (body / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        write_synthetic_body(body, seed=0)
    annot = work / "annotations" / "synthetic_test.npz"
    stamp = work / "heldout.json"
    # "look": the people's clothes (synthetic/look.py) changed the pixels of the same scenes; re-render old caches.
    wanted = json.dumps({"images": images, "look": 2, **HELDOUT})
    if not annot.is_file() or not stamp.is_file() or stamp.read_text() != wanted:
        write_synthetic_dataset(work, images, body_models=body, **HELDOUT)  # type: ignore[arg-type]
        stamp.write_text(wanted)
    return annot




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_synthetic_tiny"))
    ap.add_argument("--images", type=int, default=300, help="held-out images (1-2 people each)")
    ap.add_argument("--checkpoint", default="synthetic-tiny", help="model name or file (default: synthetic-tiny)")
    ap.add_argument("--jitter", type=float, default=0.05, help="box jitter: centre and size, fraction of the box")
    args = ap.parse_args(argv)

    annot = prepare(args.work, args.images)
    model = load_model(args.checkpoint, body_models=args.work / "body_models")
    t0 = time.perf_counter()
    s = evaluate_heldout(model, annot, args.work / "images", jitter=args.jitter)
    wall = time.perf_counter() - t0
    print(f"held-out synthetic people: {s.people} people in {args.images} images (seed 1000), boxes from the truth "
          f"with {args.jitter:.0%} jitter; {cpu_identity()[0]}, {os.cpu_count()} cores, {wall:.1f} s")
    print()
    print("| metric | synthetic-tiny | goal |")
    print("|---|---:|---:|")
    rows = [
        ("body MPJPE, 22 joints, pelvis-relative (mm)", s.mpjpe_mm, "<= 60"),
        ("body PA-MPJPE (mm)", s.pa_mpjpe_mm, "<= 45"),
        ("2D body joints within 10 % of the box height (%)", s.pck2d_pct, ">= 95"),
        ("pelvis depth within 10 %, true focal length (% of people)", s.depth_ok_pct, "(all)"),
        ("pelvis depth error, median (%)", s.depth_err_pct, "< 10"),
        ("hands MPJPE, wrist-relative (mm)", s.hand_mpjpe_mm, "reported"),
        ("hands PA-MPJPE (mm)", s.hand_pa_mpjpe_mm, "reported"),
        ("face landmarks, head-relative (mm)", s.face_mpjpe_mm, "reported"),
    ]
    for name, value, goal in rows:
        print(f"| {name} | {value:.1f} | {goal} |")
    meta = read_metadata(resolve_model(args.checkpoint).checkpoint)
    if "heldout_curve" in meta:
        loss = {r["iteration"]: r["loss"] for r in json.loads(meta.get("loss_curve", "[]"))}
        curve = json.loads(meta["heldout_curve"])
        print()
        print(f"learning curve (steps {meta.get('steps')}, training wall time {meta.get('wall_time_s')} s; held-out "
              "scores on the first 128 held-out people):")
        print()
        print("| step | training loss | held-out MPJPE (mm) | PA-MPJPE (mm) | 2D within 10 % (%) |")
        print("|---:|---:|---:|---:|---:|")
        for r in curve:
            near = min(loss, key=lambda k: abs(k - r["iteration"])) if loss else None
            print(f"| {r['iteration']} | {loss[near] if near is not None else '-'} | {r['mpjpe_mm']:.1f} | "
                  f"{r['pa_mpjpe_mm']:.1f} | {r['pck2d_pct']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
