"""Feet on the ground: foot sliding, ground penetration, contact F1, MPJPE and acceleration error,
``--feet none`` against ``--feet pin``, on the synthetic walks: truth plus noise, or the network's own predictions.

Truth plus noise (the default): the ``crossing`` walk (two people, feet that really plant; ``--scenarios hard``:
three) at 30 fps. Each person's true parameters get per-frame noise (3 degrees RMS on every joint rotation, 2 cm
on the root, 6 cm in depth; ``--seeds``: the noise seeds), are smoothed as ``smplestx infer`` does by default
(gaussian, sigma 2 frames), and then cleaned with ``--feet none`` or ``pin``.

``--from-pixels``: per scenario and walk seed (``--seeds``: the people's shapes), the walk is rendered by
``smplestx synthetic-media`` and ``smplestx infer --checkpoint synthetic-tiny`` runs on it twice, ``--feet none``
and ``--feet pin``, each in its own process as ``benchmarks/bench_mocap.py`` does (the walk's true boxes as the
detector, the true focal length, all else infer's defaults). Each track file's tracks are matched to the true
people by the IDF1 assignment and scored on the frames where they are on their person
(:func:`smplestx.evaluate.mocap.score_feet`). The walks' camera is static, so the track file's camera frame is the
truth's, where the true floor applies.

Scores (:func:`smplestx.motion.foot_metrics.foot_scores`, one mean per person, then the mean over people): sliding
follows GVHMR (mean displacement of the four foot points on frames where the true point moves less than 1 cm);
penetration is the depth of the foot points below the true floor (mean / max); contact F1 of the track's contacts
against the true ones; MPJPE (no alignment, camera frame; from pixels also pelvis-relative) and acceleration error
over the 22 body joints and the 4 foot points.

    python benchmarks/bench_feet.py [--body-models DIR] [--frames 150] [--seeds 0,1,2] [--scenarios crossing|hard] [--fps 30]
    python benchmarks/bench_feet.py --from-pixels [--scenarios crossing,hard] [--seeds 0,1,2] [--frames 150] [--fps 30]
        [--model synthetic-tiny] [--work DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_mocap import add_infer_options, infer_walk, render_walk, synthetic_body_models, tracked
from smplestx.body import BodyModel
from smplestx.evaluate.mocap import score_feet
from smplestx.motion.contacts import heights
from smplestx.motion.feet import body_joints, pin_feet
from smplestx.motion.foot_metrics import foot_scores, pool_scores
from smplestx.motion.smoothing import smooth
from smplestx.motion.tracks import TrackSet
from smplestx.models.precision_tuning import cpu_identity
from smplestx.synthetic.walks import noisy_tracks, truth_trackset, walk_truth

#: The ``--feet`` modes compared, in table order.
MODES = ("none", "pin")


def evaluate(body: BodyModel, truth: TrackSet, pred: TrackSet, floor: np.ndarray) -> dict[str, float]:
    """The foot and joint metrics of ``pred`` against ``truth``, track by track on the truth's frames, then their mean."""
    return pool_scores([foot_scores(body_joints(body, t_pred), body_joints(body, t_true), t_true.frames, floor,
                                    t_pred.contacts, t_true.contacts)
                        for t_true, t_pred in zip(truth.tracks, pred.tracks)])


def floor_error(fitted: np.ndarray | None, truth: dict[str, np.ndarray]) -> dict[str, float]:
    """How far a track file's floor is from the true one: tilt (degrees) and height above it under the people (mm)."""
    if fitted is None:
        return {"floor_tilt_deg": float("nan"), "floor_mm": float("nan")}
    true = np.asarray(truth["floor"], np.float64)
    fitted = np.asarray(fitted, np.float64)
    under = np.asarray(truth["transl"], np.float64).mean(axis=0)
    under = under - heights(under, true) * true[:3]  # the true floor below the people
    tilt = np.degrees(np.arccos(np.clip(fitted[:3] @ true[:3], -1.0, 1.0)))
    return {"floor_tilt_deg": float(tilt), "floor_mm": float(-heights(under, fitted) * 1000.0)}


def pixel_rows(work: Path, body_models: Path, body: BodyModel, scenario: str, seed: int, args: argparse.Namespace
               ) -> list[dict]:
    """One walk rendered, inferred with each ``--feet`` mode and scored: one row per mode."""
    video = work / "walk.mp4"
    truth = render_walk(video, body_models, scenario, seed, args)
    rows = []
    for mode in MODES:
        out = work / f"feet_{mode}"
        infer_s = infer_walk(video, truth, body_models, out, args, "--feet", mode)
        _, tracks, boxes = tracked(out, "walk", truth, args.frames)
        rows.append({"scenario": scenario, "seed": seed, "feet": mode, **score_feet(truth, tracks, boxes, body),
                     **floor_error(tracks.floor, truth), "tracks": len(tracks.tracks), "infer_s": infer_s})
    return rows


def _cell(value: float, fmt: str) -> str:
    """A table cell: the value formatted, or "-" for NaN."""
    return "-" if math.isnan(value) else fmt.format(value)


def pixel_table(rows: list[dict], fps: float) -> str:
    """The markdown table of :func:`pixel_rows`' rows: per scenario and mode, the mean over seeds."""
    lines = ["| walk | `--feet` | scored (%) | foot sliding (mm) | penetration mean / max (mm) | contact F1 | MPJPE (mm) "
             "| MPJPE pelvis-rel. (mm) | accel error (mm/f²) | floor tilt (°) / height (mm) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        for mode in MODES:
            runs = [r for r in rows if r["scenario"] == scenario and r["feet"] == mode]
            if not runs:
                continue

            def m(key: str) -> float:
                v = np.array([r[key] for r in runs], np.float64)
                return float(np.nanmean(v)) if (~np.isnan(v)).any() else float("nan")

            coverage = sum(r["scored_frames"] for r in runs) / max(sum(r["truth_frames"] for r in runs), 1)
            seeds = ",".join(str(r["seed"]) for r in runs)
            lines.append(f"| {scenario}, {fps:g} fps, seeds {seeds} | {mode} | {coverage:.0%} | {_cell(m('slide'), '{:.2f}')} "
                         f"| {_cell(m('pen'), '{:.2f}')} / {_cell(m('pen_max'), '{:.1f}')} | {_cell(m('f1'), '{:.3f}')} "
                         f"| {_cell(m('mpjpe'), '{:.1f}')} | {_cell(m('mpjpe_rel'), '{:.1f}')} | {_cell(m('accel'), '{:.2f}')} "
                         f"| {_cell(m('floor_tilt_deg'), '{:.1f}')} / {_cell(m('floor_mm'), '{:+.0f}')} |")
    return "\n".join(lines)


def from_pixels(args: argparse.Namespace, scenarios: list[str], seeds: list[int]) -> None:
    """``--from-pixels``: render, infer twice, score; print the table (and write ``--json``)."""
    with tempfile.TemporaryDirectory(prefix="smplestx_bench_feet_") as tmp:
        work = args.work or Path(tmp)
        body_models = synthetic_body_models(work)
        body = BodyModel.from_dir(body_models, dtype=torch.float64)
        rows: list[dict] = []
        start = time.perf_counter()
        for scenario in scenarios:
            for seed in seeds:
                new = pixel_rows(work / f"{scenario}_{seed}_{args.fps:g}fps", body_models, body, scenario, seed, args)
                rows += new
                print(f"{scenario} seed {seed}: " + "; ".join(
                    f"--feet {r['feet']}: {r['tracks']} tracks, sliding {r['slide']:.1f} mm, MPJPE {r['mpjpe']:.1f} mm, "
                    f"{r['infer_s']:.0f} s infer" for r in new), file=sys.stderr, flush=True)
        wall = time.perf_counter() - start
    print(f"feet from pixels: {args.model} on synthetic walks ({args.frames} frames at {args.fps:g} fps, "
          f"{args.width}x{args.height}; true boxes, {'infer default' if args.default_camera else 'true'} focal length; "
          f"infer defaults (tracking, gaussian smoothing) with --feet none / pin; seeds {','.join(map(str, seeds))}); "
          f"{cpu_identity()[0]}, {os.cpu_count()} cores, {wall:.0f} s\n")
    print(pixel_table(rows, args.fps))
    if args.json:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        plain = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
        args.json.write_text(json.dumps({"settings": settings, "cpu": cpu_identity()[0], "wall_s": wall,
                                         "rows": plain}, indent=1))


def truth_plus_noise(args: argparse.Namespace, scenario: str, seeds: list[int]) -> None:
    """The default mode: the walk's truth plus noise, smoothed, then ``--feet none`` / ``pin``; prints the table."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.body_models
        if folder is None:
            from smplestx.synthetic.smplx_model import write_synthetic_body
            folder = write_synthetic_body(Path(tmp), seed=0).parent
        body = BodyModel.from_dir(folder, dtype=torch.float64)
    truth = walk_truth(body, scenario, frames=args.frames, fps=args.fps)
    true_set = truth_trackset(truth)
    floor = truth["floor"]
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    seconds = []
    for seed in seeds:
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
    print(f"\nCPU: {cpu_identity()[0]}, 1 thread; {scenario} walk, {len(true_set.tracks)} people, "
          f"{frames} person-frames at {args.fps:g} fps, {len(seeds)} noise seeds (means)\n")
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-pixels", action="store_true",
                    help="score the network's own predictions (render, smplestx infer) instead of truth plus noise")
    ap.add_argument("--body-models", help="truth plus noise: SMPL-X folder (default: a synthetic one written to a "
                                          "temporary folder); from pixels always uses the synthetic body of seed 0")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds: of the noise, or (--from-pixels) of the walks")
    ap.add_argument("--scenarios", "--scenario", default=None,
                    help="comma-separated walks (crossing, hard); default crossing, or crossing,hard with --from-pixels")
    ap.add_argument("--fps", type=float, default=30.0, help="frame rate of the walk (the noise is per frame)")
    add_infer_options(ap)
    ap.add_argument("--work", type=Path, help="--from-pixels: keep the videos and outputs here (default: temporary)")
    ap.add_argument("--json", type=Path, help="--from-pixels: also write the per-seed rows and the settings as JSON")
    args = ap.parse_args(argv)
    scenarios = [s for s in (args.scenarios or ("crossing,hard" if args.from_pixels else "crossing")).split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.frames < 3 or not scenarios or not seeds or not set(scenarios) <= {"crossing", "hard"}:
        ap.error("need --frames >= 3, at least one seed and scenarios among crossing, hard")
    if args.from_pixels and args.body_models:
        ap.error("--from-pixels uses the synthetic body of seed 0 (synthetic-tiny's); drop --body-models")
    torch.set_num_threads(1)
    if args.from_pixels:
        from_pixels(args, scenarios, seeds)
    else:
        for scenario in scenarios:
            truth_plus_noise(args, scenario, seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
