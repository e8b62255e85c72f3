"""Motion in the world from a moving camera: camera-frame output vs our camera motion vs the true camera.

For each camera path of ``smplestx synthetic-media --walk crossing --camera PATH`` (a textured world: tiled floor,
backdrop wall), the video is rendered, our camera motion is estimated from its pixels (people masked by their true
boxes; the floor of the first frame, i.e. gravity and camera height, given as the ruler), and the people's true
camera-frame parameters plus per-frame noise (3 degrees RMS per joint, 2 cm, 6 cm in depth; smoothed in the camera
frame, as ``smplestx infer`` does for a static camera) are put in the world three ways: with the first frame's camera for every frame (what a
camera-frame track file means today), with our camera, and with the true camera (the upper bound). World metrics
as WHAM/GVHMR define them over the 22 body joints; camera rotation error and ATE for the camera. **Truth plus noise,
not a network's predictions.** Usage: python benchmarks/bench_world.py [--frames 90] [--seeds 3] [--cameras ...]

``--from-pixels``: end to end instead. Each video goes through the real CLI in a child process (``smplestx infer
VIDEO --checkpoint synthetic-tiny --body-models DIR --detector boxes:VIDEO.boxes.json --focal F --camera auto
--no-render -q``; the body models of ``smplestx synthetic-body DIR --seed 0``, which synthetic-tiny requires); each
track of the track file is matched to a true person by the IDF1 assignment of :mod:`smplestx.evaluate.mocap` and
scored on the frames where it is on that person (runs of at least :data:`MIN_RUN` frames), three ways: its
camera-frame bodies with the first frame's estimated camera in every frame, the track file's own world fields (what
a user gets), its camera-frame bodies with the true camera path. Camera rotation error and ATE are those of the
track file's path (and of the first frame's pose held) against the truth. Usage: python benchmarks/bench_world.py
--from-pixels [--frames 60] [--cameras ...] [--model synthetic-tiny] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.evaluate.mocap import FrameBoxes, frame_runs, match_tracks, tracked_boxes
from smplestx.io.video import VideoSource
from smplestx.motion.camera_motion import estimate_camera_motion
from smplestx.motion.feet import body_joints
from smplestx.motion.metrics import ate, camera_rotation_error, jitter, rte, w_mpjpe, wa_mpjpe
from smplestx.motion.smoothing import smooth
from smplestx.motion.tracks import TrackSet, camera_at
from smplestx.motion.world_frame import apply_pose
from smplestx.synthetic.smplx_model import write_synthetic_body
from smplestx.synthetic.walks import noisy_tracks, truth_trackset, write_walk_media
from smplestx.synthetic.world import CAMERA_PATHS

BODY_JOINTS = 22
#: The three ways of placing the people, in the table's order.
ROWS = ("first frame's camera (today)", "our camera motion", "true camera")
#: Shortest run of consecutive scored frames a track is scored on end to end (RTE is a share of the path's length).
MIN_RUN = 10
HEADER = ("| camera | placed with | cam. rot. err (deg) | ATE (m) | W-MPJPE (mm) | WA-MPJPE (mm) | RTE (%) "
          "| jitter (10 m/s³) |\n|---|---|---|---|---|---|---|---|")


def scene(body_dir: Path, folder: Path, camera: str, frames: int) -> tuple[dict, list, list]:
    """Render one walk; return its truth, frames and true person boxes."""
    video, boxes_path, truth_path = write_walk_media(folder / f"{camera}.mp4", body_dir, frames=frames, fps=30.0,
                                                     camera=camera)
    with VideoSource(video) as src:
        images = [f.image for f in src]
    boxes = json.loads(boxes_path.read_text())["frames"]
    with np.load(truth_path, allow_pickle=False) as z:
        truth = dict(z)
    return truth, images, [np.asarray(boxes.get(str(i), []), np.float64).reshape(-1, 4) for i in range(len(images))]


def world_rows(body: BodyModel, truth: dict, cams: dict[str, tuple[np.ndarray, np.ndarray]], seeds: int
               ) -> dict[str, dict[str, float]]:
    """Mean world metrics (per person, frame-weighted, over noise seeds) of each way of placing the people."""
    true_r, true_t = truth["camera_rotation"], truth["camera_translation"]
    fps = float(truth["fps"])
    truth_set = truth_trackset(truth)
    true_world = {}
    for t in truth_set.tracks:
        j = body_joints(body, t)[:, :BODY_JOINTS]
        true_world[t.track_id] = apply_pose(true_r[t.frames], true_t[t.frames], j)
    sums: dict[str, dict[str, float]] = {name: {} for name in cams}
    weight = 0.0
    for seed in range(seeds):
        noisy = smooth(noisy_tracks(truth_set, seed=seed), "gaussian")
        for t in noisy.tracks:
            j = body_joints(body, t)[:, :BODY_JOINTS]
            g = true_world[t.track_id]
            n = len(t.frames)
            weight += n
            for name, (r, tr) in cams.items():
                p = apply_pose(r[t.frames], tr[t.frames], j)
                for key, value in world_metrics(p, g, fps).items():
                    sums[name][key] = sums[name].get(key, 0.0) + n * value
    return {name: {k: v / weight for k, v in row.items()} for name, row in sums.items()}


def world_metrics(pred: np.ndarray, truth: np.ndarray, fps: float) -> dict[str, float]:
    """W-MPJPE and WA-MPJPE (mm), RTE (%) and jitter (10 m/s^3) of world joints (T, 22, 3) against the truth's.

    Each aligns the two worlds itself (W-MPJPE rigidly on the first two frames, WA-MPJPE by a similarity over the
    sequence, RTE rigidly over the path), so they need not share axes or origin; W-MPJPE and RTE need one scale.
    """
    return {"W-MPJPE": 1000 * w_mpjpe(pred, truth), "WA-MPJPE": 1000 * wa_mpjpe(pred, truth),
            "RTE": rte(pred[:, 0], truth[:, 0]), "jitter": jitter(pred, fps) / 10.0}


def table_row(camera: str, name: str, rot_err: float, ate_m: float, m: dict[str, float]) -> str:
    """One markdown row of the table."""
    return (f"| {camera} | {name} | {rot_err:.3f} | {ate_m:.3f} | {m['W-MPJPE']:.1f} | {m['WA-MPJPE']:.1f} "
            f"| {m['RTE']:.2f} | {m['jitter']:.2f} |")


def pixel_rows(truth: dict, tracks: TrackSet, boxes: FrameBoxes, body: BodyModel
               ) -> dict[str, dict[str, float]]:
    """End to end: a track file's people scored in the world three ways (:data:`ROWS`), with its camera's errors.

    Each track is matched to a true person as :func:`smplestx.evaluate.mocap.score_mocap` matches it (``boxes``: the
    tracker's, :func:`~smplestx.evaluate.mocap.tracked_boxes`) and scored on runs of at least :data:`MIN_RUN` of the
    frames where it is on that person; metrics are frame-weighted means (NaN when nothing was scored), plus
    ``rot_err`` (degrees), ``ATE`` (metres) of each row's camera path and ``scored`` (person-frames).
    """
    true_r, true_t = np.asarray(truth["camera_rotation"]), np.asarray(truth["camera_translation"])
    fps = float(truth["fps"])
    cam_frames = np.asarray(tracks.camera_frames, np.int64)
    est_r, est_t = camera_at(tracks, cam_frames)
    held = (np.repeat(est_r[:1], len(cam_frames), 0), np.repeat(est_t[:1], len(cam_frames), 0))
    paths = {ROWS[0]: held, ROWS[1]: (est_r, est_t), ROWS[2]: (true_r[cam_frames], true_t[cam_frames])}
    out = {name: {"rot_err": camera_rotation_error(r, true_r[cam_frames]), "ATE": ate(t, true_t[cam_frames])}
           for name, (r, t) in paths.items()}
    truth_set = truth_trackset(truth)
    ids = {t.track_id for t in tracks.tracks}
    sums: dict[str, dict[str, float]] = {name: {} for name in ROWS}
    weight = 0
    for tid, (pid, on) in match_tracks(truth, boxes)[1].items():
        if tid not in ids:
            continue
        track, true_track = tracks.track(tid), truth_set.track(pid)
        frames = np.intersect1d(np.intersect1d(on, track.frames), true_track.frames)
        runs = [frames[run] for run in frame_runs(frames) if len(run) >= MIN_RUN]
        if not runs:
            continue
        camera_joints = body_joints(body, track)[:, :BODY_JOINTS]
        world_joints = body_joints(body, replace(track, global_orient=track.global_orient_world,
                                                 transl=track.transl_world))[:, :BODY_JOINTS]
        true_world = apply_pose(true_r[true_track.frames], true_t[true_track.frames],
                                body_joints(body, true_track)[:, :BODY_JOINTS])
        for f in runs:
            at = np.searchsorted(track.frames, f)
            g = true_world[np.searchsorted(true_track.frames, f)]
            placed = {ROWS[0]: apply_pose(est_r[0], est_t[0], camera_joints[at]), ROWS[1]: world_joints[at],
                      ROWS[2]: apply_pose(true_r[f], true_t[f], camera_joints[at])}
            weight += len(f)
            for name, p in placed.items():
                for key, value in world_metrics(p, g, fps).items():
                    sums[name][key] = sums[name].get(key, 0.0) + len(f) * value
    for name in ROWS:
        keys = ("W-MPJPE", "WA-MPJPE", "RTE", "jitter")
        out[name].update({k: sums[name][k] / weight if weight else float("nan") for k in keys}, scored=weight)
    return out


def from_pixels(args: argparse.Namespace) -> None:
    """Print the end-to-end table: render, `smplestx infer --camera auto` in a child process, score the track file."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_mocap import cli

    from smplestx import load_results, load_tracks
    from smplestx.models.precision_tuning import cpu_identity
    from smplestx.synthetic.truth import read_truth

    start = time.perf_counter()
    lines, notes = [], []
    with tempfile.TemporaryDirectory(prefix="smplestx_bench_world_") as tmp:
        work = args.work or Path(tmp)
        body_models = work / "body_models"
        if not (body_models / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
            cli("synthetic-body", body_models, "--seed", 0)
        body = BodyModel.from_dir(body_models, dtype=torch.float64)
        for camera in args.cameras:
            folder = work / camera
            folder.mkdir(parents=True, exist_ok=True)
            video, boxes_path, truth_file = write_walk_media(folder / f"{camera}.mp4", body_models,
                                                             frames=args.frames, fps=30.0, camera=camera)
            truth = read_truth(truth_file)
            cli("infer", video, "--checkpoint", args.model, "--body-models", body_models, "--detector",
                f"boxes:{boxes_path}", "--focal", f"{float(truth['focal'][0]):g}", "--camera", "auto", "--no-render",
                "-q", "--output", folder / "out")
            tracks = load_tracks(folder / "out" / f"{camera}.tracks.npz")
            results = load_results(folder / "out" / f"{camera}.npz")
            boxes = tracked_boxes(results.frames, args.frames, [t.track_id for t in tracks.tracks])
            rows = pixel_rows(truth, tracks, boxes, body)
            for name in ROWS:
                m = rows[name]
                lines.append(table_row(f"{camera} (auto: {tracks.camera})", name, m["rot_err"], m["ATE"], m))
            notes.append(f"- {camera}: `--camera auto` decided {tracks.camera}; floor "
                         f"{'found' if tracks.floor is not None else 'not found (the world in camera heights)'}; "
                         f"{len(tracks.tracks)} tracks, {rows[ROWS[1]]['scored']} of {len(truth['frame'])} true "
                         f"person-frames scored; smoothing {tracks.smoothing}, feet {tracks.feet}")
            print(f"{camera}: done ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    print(f"end to end from pixels: {args.model}, `smplestx infer --camera auto` on `synthetic-media --walk crossing "
          f"--camera PATH` ({args.frames} frames at 30 fps, 640x480; true boxes and focal length); "
          f"{cpu_identity()[0]}, {os.cpu_count()} cores, {wall:.0f} s\n")
    print(HEADER)
    print("\n".join(lines))
    print()
    print("\n".join(notes))


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cameras", nargs="+", default=list(CAMERA_PATHS), choices=CAMERA_PATHS)
    ap.add_argument("--from-pixels", action="store_true",
                    help="end to end: `smplestx infer --camera auto` on each video, its track file scored")
    ap.add_argument("--model", default="synthetic-tiny", help="--from-pixels: infer --checkpoint (name or file)")
    ap.add_argument("--work", type=Path, help="--from-pixels: keep the videos and outputs here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.from_pixels:
        from_pixels(args)
        return
    print(HEADER)
    costs = []
    with tempfile.TemporaryDirectory() as tmp:
        body_dir = write_synthetic_body(Path(tmp) / "body", seed=0).parent
        body = BodyModel.from_dir(body_dir, dtype=torch.float64)
        for camera in args.cameras:
            truth, images, boxes = scene(body_dir, Path(tmp), camera, args.frames)
            start = time.perf_counter()
            cm = estimate_camera_motion(images, boxes, truth["focal"], truth["princpt"], mode="auto",
                                        floor=truth["floor"])
            costs.append(1000 * (time.perf_counter() - start) / len(images))
            true_r, true_t = truth["camera_rotation"], truth["camera_translation"]
            n = len(true_r)
            fixed = (np.repeat(true_r[:1], n, 0), np.repeat(true_t[:1], n, 0))
            cams = {"first frame's camera (today)": fixed, "our camera motion": (cm.rotation, cm.translation),
                    "true camera": (true_r, true_t)}
            rows = world_rows(body, truth, cams, args.seeds)
            for name, (r, tr) in cams.items():
                print(table_row(camera, name, camera_rotation_error(r, true_r), ate(tr, true_t), rows[name]))
            print(f"<!-- {camera}: auto decided {'moving' if cm.moving else 'static'}, "
                  f"background moved {cm.background_motion_px:.2f} px, {costs[-1]:.1f} ms/frame -->")
    print(f"\ncamera motion: {np.mean(costs):.1f} ms per 640x480 frame on average "
          f"({', '.join(f'{c:.1f}' for c in costs)})")


if __name__ == "__main__":
    main()
