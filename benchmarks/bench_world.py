"""Motion in the world from a moving camera: camera-frame output vs our camera motion vs the true camera.

For each camera path of ``smplestx synthetic-media --walk crossing --camera PATH`` (a textured world: tiled floor,
backdrop wall), the video is rendered, our camera motion is estimated from its pixels (people masked by their true
boxes; the floor of the first frame, i.e. gravity and camera height, given as the ruler), and the people's true
camera-frame parameters plus per-frame noise (3 degrees RMS per joint, 2 cm, 6 cm in depth; smoothed as ``smplestx
infer`` does by default) are put in the world three ways: with the first frame's camera for every frame (what a
camera-frame track file means today), with our camera, and with the true camera (the upper bound). World metrics
as WHAM/GVHMR define them over the 22 body joints; camera rotation error and ATE for the camera. **Truth plus noise,
not a network's predictions.** Usage: python benchmarks/bench_world.py [--frames 90] [--seeds 3] [--cameras ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.io.video import VideoSource
from smplestx.motion.camera_motion import estimate_camera_motion
from smplestx.motion.feet import body_joints
from smplestx.motion.metrics import ate, camera_rotation_error, jitter, rte, w_mpjpe, wa_mpjpe
from smplestx.motion.smoothing import smooth
from smplestx.motion.world_frame import apply_pose
from smplestx.synthetic.smplx_model import write_synthetic_body
from smplestx.synthetic.walks import noisy_tracks, truth_trackset, write_walk_media
from smplestx.synthetic.world import CAMERA_PATHS

BODY_JOINTS = 22


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
                for key, value in (("W-MPJPE", 1000 * w_mpjpe(p, g)), ("WA-MPJPE", 1000 * wa_mpjpe(p, g)),
                                   ("RTE", rte(p[:, 0], g[:, 0])), ("jitter", jitter(p, fps) / 10.0)):
                    sums[name][key] = sums[name].get(key, 0.0) + n * value
    return {name: {k: v / weight for k, v in row.items()} for name, row in sums.items()}


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cameras", nargs="+", default=list(CAMERA_PATHS), choices=CAMERA_PATHS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| camera | placed with | cam. rot. err (deg) | ATE (m) | W-MPJPE (mm) | WA-MPJPE (mm) | RTE (%) "
          "| jitter (10 m/s³) |")
    print("|---|---|---|---|---|---|---|---|")
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
                m = rows[name]
                print(f"| {camera} | {name} | {camera_rotation_error(r, true_r):.3f} | {ate(tr, true_t):.3f} "
                      f"| {m['W-MPJPE']:.1f} | {m['WA-MPJPE']:.1f} | {m['RTE']:.2f} | {m['jitter']:.2f} |")
            print(f"<!-- {camera}: auto decided {'moving' if cm.moving else 'static'}, "
                  f"background moved {cm.background_motion_px:.2f} px, {costs[-1]:.1f} ms/frame -->")
    print(f"\ncamera motion: {np.mean(costs):.1f} ms per 640x480 frame on average "
          f"({', '.join(f'{c:.1f}' for c in costs)})")


if __name__ == "__main__":
    main()
