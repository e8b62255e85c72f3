"""End-to-end motion capture on synthetic walks: video -> `smplestx infer` -> track file -> `smplestx export`
-> the exported animation read back, scored against the walk's truth sidecar. Prints a markdown table.

Per scenario and seed: `smplestx synthetic-media walk.mp4 --walk SCENARIO --seed SEED` renders the walk and its
truth (`walk.mp4.truth.npz`); `smplestx infer` runs the model on it with the walk's true boxes as the detector
(`--detector boxes:walk.mp4.boxes.json`: the people at least 30 % visible) and the true focal length
(`--focal`; `--default-camera` for infer's own guess), everything else infer's defaults: tracking with the
network's own shape and position cues, gaussian smoothing, `--feet pin`; `smplestx export --format amass`
writes one AMASS file per track, read back with `smplestx.export.readers.read_motion_file` and scored by
`smplestx.evaluate.mocap.score_mocap`: MPJPE and PA-MPJPE (22 body joints, pelvis-relative, mm), acceleration
error (mm/frame^2), root path error (pelvis position in the camera frame, mm), IDF1 and ID switches.
The body models are the synthetic ones of seed 0 (`smplestx synthetic-body`), which synthetic-tiny requires.

    python benchmarks/bench_mocap.py [--scenarios crossing,hard] [--seeds 0,1,2] [--frames 150] [--fps 30]
        [--model synthetic-tiny] [--device auto] [--dtype auto] [--work DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.evaluate.mocap import FrameBoxes, MocapScores, score_mocap, tracked_boxes
from smplestx.export.exporter import FORMATS
from smplestx.export.readers import read_motion_file
from smplestx.io.results import load_results
from smplestx.motion.tracks import TrackSet, load_tracks
from smplestx.models.precision_tuning import cpu_identity
from smplestx.synthetic.truth import read_truth, truth_path

#: The table's columns: heading, key of a row, format.
COLUMNS = (("people", "people", "{:.0f}"), ("tracks", "tracks", "{:.0f}"), ("scored (%)", "coverage", "{:.0%}"),
           ("MPJPE (mm)", "mpjpe_mm", "{:.1f}"), ("PA-MPJPE (mm)", "pa_mpjpe_mm", "{:.1f}"),
           ("accel (mm/f²)", "accel_mm", "{:.1f}"), ("root path (mm)", "root_mm", "{:.0f}"), ("IDF1", "idf1", "{:.3f}"),
           ("ID switches", "id_switches", "{:g}"))
#: Counts: the last row gives their total over the runs, not their mean.
COUNTS = ("people", "tracks", "id_switches")


def cli(*args: str | Path) -> str:
    """Run one `smplestx` command in a child process (this interpreter); its stdout, or RuntimeError with its stderr."""
    cmd = [sys.executable, "-m", "smplestx", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"`smplestx {' '.join(map(str, args))}` failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def exported_tracks(track_file: Path, export_dir: Path, body: BodyModel) -> TrackSet:
    """The AMASS files `smplestx export` wrote for ``track_file``, read back as one track set on the video's frames.

    An AMASS file has no frame numbers: its first pose is the track's first frame, and it has every frame from
    there to the track's last (export fills the gaps).
    """
    tracks = load_tracks(track_file)
    stem = track_file.name[: -len(".tracks.npz")]
    out = []
    for t in tracks.tracks:
        path = export_dir / f"{stem}_track{t.track_id}{FORMATS['amass']}"
        back = read_motion_file(path, None, fps=tracks.fps, body=body).tracks[0]
        expected = int(t.frames[-1] - t.frames[0] + 1)
        if len(back) != expected:
            raise RuntimeError(f"{path}: {len(back)} poses, expected {expected} (frames {t.frames[0]}..{t.frames[-1]})")
        out.append(replace(back, track_id=t.track_id, frames=np.asarray(back.frames, np.int64) + int(t.frames[0])))
    return replace(tracks, tracks=out, source=str(export_dir))


def render_walk(video: Path, body_models: Path, scenario: str, seed: int, args: argparse.Namespace
                ) -> dict[str, np.ndarray]:
    """`smplestx synthetic-media VIDEO --walk SCENARIO` (``args``: frames, fps, width, height); the walk's truth."""
    video.parent.mkdir(parents=True, exist_ok=True)
    cli("synthetic-media", video, "--body-models", body_models, "--walk", scenario, "--seed", seed,
        "--frames", args.frames, "--fps", args.fps, "--width", args.width, "--height", args.height)
    return read_truth(truth_path(video))


def infer_walk(video: Path, truth: dict[str, np.ndarray], body_models: Path, output: Path, args: argparse.Namespace,
               *extra: str) -> float:
    """`smplestx infer VIDEO` on the walk's true boxes (``args``: model, device, dtype, default_camera; ``extra``
    flags appended) writing into ``output``; the seconds it took."""
    camera = [] if args.default_camera else ["--focal", f"{float(truth['focal'][0]):g}"]
    start = time.perf_counter()
    cli("infer", video, "--checkpoint", args.model, "--body-models", body_models, "--output", output,
        "--detector", f"boxes:{video}.boxes.json", "--no-render", "--device", args.device, "--dtype", args.dtype,
        "-q", *camera, *extra)
    return time.perf_counter() - start


def tracked(output: Path, stem: str, truth: dict[str, np.ndarray], frames: int) -> tuple[Path, TrackSet, FrameBoxes]:
    """What infer wrote into ``output`` for video ``stem``: the track file, its tracks (an empty set when nobody
    was tracked) and the tracker's boxes per frame (:func:`~smplestx.evaluate.mocap.tracked_boxes`)."""
    results = load_results(output / f"{stem}.npz")
    track_file = output / f"{stem}.tracks.npz"
    tracks = load_tracks(track_file) if track_file.is_file() else TrackSet(
        [], float(truth["fps"]), "none", truth["focal"], truth["princpt"], truth["image_size"], "")
    return track_file, tracks, tracked_boxes(results.frames, frames, [t.track_id for t in tracks.tracks])


def run_one(work: Path, body_models: Path, body: BodyModel, scenario: str, seed: int, args: argparse.Namespace
            ) -> dict[str, float]:
    """One walk through the whole chain; its scores (and seconds of infer) as plain numbers."""
    video = work / "walk.mp4"
    truth = render_walk(video, body_models, scenario, seed, args)
    infer_s = infer_walk(video, truth, body_models, work / "out", args)
    track_file, tracks, boxes = tracked(work / "out", "walk", truth, args.frames)
    if tracks.tracks:
        # The truth is in the camera frame: a world-frame file (export's default once infer found a floor) would put
        # the camera's height and tilt into the root path error.
        cli("export", track_file, "--body-models", body_models, "--format", "amass", "--frame", "camera",
            "--output", work / "export")
        predicted = exported_tracks(track_file, work / "export", body)
    else:  # nobody tracked: identity scores only
        predicted = tracks
    scores: MocapScores = score_mocap(truth, predicted, boxes, body)
    return {**scores.as_dict(), "infer_s": infer_s}


def synthetic_body_models(work: Path) -> Path:
    """``work/body_models``: the synthetic body of seed 0 (`smplestx synthetic-body`), which synthetic-tiny requires."""
    body_models = work / "body_models"
    if not (body_models / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        cli("synthetic-body", body_models, "--seed", 0)
    return body_models


def add_infer_options(ap: argparse.ArgumentParser) -> None:
    """The options of the rendered video and of `smplestx infer` (what :func:`render_walk` and :func:`infer_walk` read)."""
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--model", default="synthetic-tiny", help="model name or checkpoint file (infer --checkpoint)")
    ap.add_argument("--device", default="auto", help="infer --device")
    ap.add_argument("--dtype", default="auto", help="infer --dtype")
    ap.add_argument("--default-camera", action="store_true", help="infer's own focal length guess, not the true one")


def table(rows: list[dict]) -> str:
    """The markdown table: one row per run, then their mean."""
    head = "| scenario | seed | " + " | ".join(c[0] for c in COLUMNS) + " |"
    lines = [head, "|---|---|" + "---:|" * len(COLUMNS)]

    def cells(r: dict) -> str:
        return " | ".join("-" if isinstance(r[k], float) and math.isnan(r[k]) else f.format(r[k]) for _, k, f in COLUMNS)

    for r in rows:
        lines.append(f"| {r['scenario']} | {r['seed']} | {cells(r)} |")
    if len(rows) > 1:
        pool = {k: np.nansum if k in COUNTS else np.nanmean for _, k, _ in COLUMNS}
        mean = {k: float(pool[k]([r[k] for r in rows])) if not all(math.isnan(r[k]) for r in rows) else float("nan")
                for _, k, _ in COLUMNS}
        lines.append(f"| **mean** (people, tracks, switches: total) | | {cells(mean)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default="crossing,hard", help="comma-separated walk scenarios")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated walk seeds (the people's shapes)")
    ap.add_argument("--frames", type=int, default=150, help="video frames per walk")
    ap.add_argument("--fps", type=float, default=30.0)
    add_infer_options(ap)
    ap.add_argument("--work", type=Path, help="keep the videos and outputs here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, help="also write the rows and their settings as JSON")
    args = ap.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.frames < 3 or not scenarios or not seeds:
        ap.error("need --frames >= 3 and at least one scenario and seed")

    with tempfile.TemporaryDirectory(prefix="smplestx_bench_mocap_") as tmp:
        work = args.work or Path(tmp)
        body_models = synthetic_body_models(work)
        body = BodyModel.from_dir(body_models, dtype=torch.float64)
        rows = []
        start = time.perf_counter()
        for scenario in scenarios:
            for seed in seeds:
                row = run_one(work / f"{scenario}_{seed}", body_models, body, scenario, seed, args)
                rows.append({"scenario": scenario, "seed": seed, **row})
                print(f"{scenario} seed {seed}: done ({row['infer_s']:.1f} s infer)", file=sys.stderr, flush=True)
        wall = time.perf_counter() - start
    print(f"end-to-end motion capture: {args.model} on synthetic walks ({args.frames} frames at {args.fps:g} fps, "
          f"{args.width}x{args.height}; true boxes, {'infer default' if args.default_camera else 'true'} focal length; "
          f"infer defaults: tracking, gaussian smoothing, --feet pin; AMASS export read back); {cpu_identity()[0]}, "
          f"{os.cpu_count()} cores, {wall:.0f} s\n")
    print(table(rows))
    if args.json:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        plain = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
        args.json.write_text(json.dumps({"settings": settings, "cpu": cpu_identity()[0], "rows": plain}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
