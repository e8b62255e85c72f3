"""Tracking and smoothing cost on CPU: milliseconds per person per frame, as a markdown table.

Input: the synthetic ``hard`` walk (three people crossing, occluded, one leaving and coming back;
ground truth from the license-free body model) as noisy detections with false positives, and a
noisy 300-frame SMPL-X track (3 degrees per joint, 2 cm). The body model runs once to make the
truth and is not timed. Usage: python benchmarks/bench_motion.py [--frames 180] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.synthetic.smplx_model import write_synthetic_body
from smplestx.synthetic.walks import noisy_detections, walk_sequence, walk_truth, walkers
from smplestx.motion.metrics import mot_identity_metrics
from smplestx.motion.smoothing import fill_gaps, smooth_track
from smplestx.motion.tracker import Tracker
from smplestx.motion.tracks import Track


def best(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=180)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        body = BodyModel.from_dir(write_synthetic_body(Path(tmp), seed=0).parent, dtype=torch.float32)
        truth = walk_truth(body, "hard", frames=args.frames, fps=30.0)
    dets = noisy_detections(truth, seed=0)
    n_boxes = sum(len(d["boxes"]) for d in dets)
    rows = []
    for cues in (True, False):
        def run() -> None:
            tracker = Tracker(fps=30.0)
            for d in dets:
                tracker.update(d["boxes"], d["scores"], d["betas"] if cues else None, d["positions"] if cues else None)
        sec = best(run, args.repeats)
        tracker = Tracker(fps=30.0)
        gt, pred = [], []
        for f, d in enumerate(dets):
            ids = tracker.update(d["boxes"], d["scores"], d["betas"] if cues else None, d["positions"] if cues else None)
            r = np.flatnonzero(truth["frame"] == f)
            gt.append((truth["person_id"][r], truth["box_xyxy"][r]))
            pred.append((ids[ids >= 0], d["boxes"][ids >= 0]))
        m = mot_identity_metrics(gt, pred)
        rows.append((f"track, {'boxes + shape/3D cues' if cues else 'boxes only'}", 1000 * sec / n_boxes,
                     f"IDF1 {m.idf1:.3f}, ID switches {m.id_switches}"))

    t_len = 300
    seq = walk_sequence(walkers("crossing"), np.arange(t_len) / 30.0, body)
    ps = [{k: v[f] for k, v in seq.items()} for f in range(t_len)]
    rng = np.random.default_rng(0)

    def get(k: str, noise: float) -> np.ndarray:
        return (np.stack([p[k][0] for p in ps]) + rng.normal(0, noise, (t_len, *ps[0][k].shape[1:]))).astype(np.float32)

    track = Track(0, np.arange(t_len), get("global_orient", 0.03), get("body_pose", 0.03),
                  rng.normal(0, 0.03, (t_len, 15, 3)).astype(np.float32), rng.normal(0, 0.03, (t_len, 15, 3)).astype(np.float32),
                  rng.normal(0, 0.03, (t_len, 3)).astype(np.float32), np.zeros(10, np.float32),
                  rng.normal(0, 0.1, (t_len, 10)).astype(np.float32), get("transl", 0.02))
    for method, causal in (("gaussian", False), ("oneeuro", False), ("oneeuro", True)):
        sec = best(lambda: smooth_track(track, method, 30.0, causal=causal), args.repeats)
        rows.append((f"smooth, {method} ({'causal' if causal else 'offline'})", 1000 * sec / t_len, "53 rotations + transl + expression"))
    holey = Track(**{**track.__dict__, "frames": np.where(np.arange(t_len) < 150, np.arange(t_len), np.arange(t_len) + 4)})
    sec = best(lambda: fill_gaps(holey, 5), args.repeats)
    rows.append(("fill a 4-frame gap (300-frame track)", 1000 * sec / t_len, "slerp"))

    print(f"{args.frames} frames, {n_boxes} boxes (tracking); {t_len}-frame track (smoothing); 1 torch thread\n")
    print("| stage | ms / person / frame | note |\n|---|---|---|")
    for name, ms, note in rows:
        print(f"| {name} | {ms:.3f} | {note} |")


if __name__ == "__main__":
    main()
