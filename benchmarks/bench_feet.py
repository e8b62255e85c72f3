"""Feet on the ground: foot sliding, ground penetration, contact F1, MPJPE and acceleration error,
``--feet none`` against ``--feet pin``, on the synthetic walks (truth plus noise).

The truth is the ``crossing`` walk (two people, feet that really plant; ``--scenario hard``: three) at 30 fps. Each person's
true parameters get per-frame noise (3 degrees RMS on every joint rotation, 2 cm on the root, 6 cm
in depth), are smoothed as ``smplestx infer`` does by default (gaussian, sigma 2 frames), and then
cleaned with ``--feet none`` or ``pin``. Sliding follows GVHMR (mean displacement of the foot points
on frames where the true point moves less than 1 cm); penetration is the depth of the foot points
below the true floor; MPJPE and acceleration error are on the 22 body joints and 4 foot points.

    python benchmarks/bench_feet.py [--body-models DIR] [--frames 150] [--seeds 3] [--scenario crossing|hard] [--fps 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.motion.contacts import foot_points
from smplestx.motion.feet import body_joints, pin_feet
from smplestx.motion.foot_metrics import contact_f1, foot_sliding, ground_penetration
from smplestx.motion.metrics import acceleration_error, mpjpe
from smplestx.motion.smoothing import smooth
from smplestx.motion.tracks import TrackSet
from smplestx.models.precision_tuning import cpu_identity
from smplestx.synthetic.walks import noisy_tracks, truth_trackset, walk_truth


def evaluate(body: BodyModel, truth: TrackSet, pred: TrackSet, floor: np.ndarray) -> dict[str, float]:
    """The foot and joint metrics of ``pred`` against ``truth`` (all tracks pooled)."""
    rows: dict[str, list[float]] = {k: [] for k in ("slide", "pen", "pen_max", "f1", "mpjpe", "accel")}
    for t_true, t_pred in zip(truth.tracks, pred.tracks):
        j_true, j_pred = body_joints(body, t_true), body_joints(body, t_pred)
        f_true, f_pred = foot_points(j_true), foot_points(j_pred)
        rows["slide"].append(foot_sliding(f_pred, f_true, t_true.frames))
        pen = ground_penetration(f_pred, floor)
        rows["pen"].append(pen[0])
        rows["pen_max"].append(pen[1])
        if t_pred.contacts is not None:
            rows["f1"].append(contact_f1(t_pred.contacts, t_true.contacts))
        sel = np.r_[0:22]
        a = np.concatenate([j_pred[:, sel], f_pred], axis=1) * 1000
        b = np.concatenate([j_true[:, sel], f_true], axis=1) * 1000
        rows["mpjpe"].append(mpjpe(a, b))
        rows["accel"].append(acceleration_error(a, b))
    return {k: float(np.mean(v)) if v else float("nan") for k, v in rows.items()}




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--body-models", help="SMPL-X folder (default: a synthetic one written to a temporary folder)")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scenario", default="crossing", choices=("crossing", "hard"))
    ap.add_argument("--fps", type=float, default=30.0, help="frame rate of the walk (the noise is per frame)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.body_models
        if folder is None:
            from smplestx.synthetic.smplx_model import write_synthetic_body
            folder = write_synthetic_body(Path(tmp), seed=0).parent
        body = BodyModel.from_dir(folder, dtype=torch.float64)
    truth = walk_truth(body, args.scenario, frames=args.frames, fps=args.fps)
    true_set = truth_trackset(truth)
    floor = truth["floor"]
    results: dict[str, list[dict[str, float]]] = {"none": [], "pin": []}
    seconds = []
    for seed in range(args.seeds):
        smoothed = smooth(noisy_tracks(true_set, seed), "gaussian")
        results["none"].append(evaluate(body, true_set, smoothed, floor))
        start = time.perf_counter()
        pinned = pin_feet(smoothed, body)
        seconds.append(time.perf_counter() - start)
        results["pin"].append(evaluate(body, true_set, pinned, floor))
        fl = pinned.floor
        print(f"seed {seed}: fitted floor n=({fl[0]:.3f}, {fl[1]:.3f}, {fl[2]:.3f}) d={fl[3]:.3f} "
              f"(true n=(0, -1, 0) d={floor[3]:.3f})")
    frames = sum(len(t) for t in true_set.tracks)
    print(f"\nCPU: {cpu_identity()[0]}, 1 thread; {args.scenario} walk, {len(true_set.tracks)} people, "
          f"{frames} person-frames at {args.fps:g} fps, {args.seeds} noise seeds (means)\n")
    print("| --feet | foot sliding (mm) | penetration mean / max (mm) | contact F1 | MPJPE (mm) | accel error (mm/f^2) |")
    print("|---|---|---|---|---|---|")
    for mode, runs in results.items():
        m = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        f1 = "-" if np.isnan(m["f1"]) else f"{m['f1']:.3f}"
        print(f"| {mode} | {m['slide']:.2f} | {m['pen']:.2f} / {m['pen_max']:.1f} | {f1} | {m['mpjpe']:.2f} | "
              f"{m['accel']:.2f} |")
    truth_only = evaluate(body, true_set, true_set, floor)
    print(f"| (truth) | {truth_only['slide']:.2f} | {truth_only['pen']:.2f} / {truth_only['pen_max']:.1f} | 1 | 0 | 0 |")
    print(f"\npin: {np.mean(seconds) / frames * 1000:.2f} ms per person-frame")


if __name__ == "__main__":
    main()
