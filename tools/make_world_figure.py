"""Make docs/images/world_top_view.png: the walkers' root paths seen from above in the camera frame, the estimated
world and the truth, for a synthetic walk filmed by a moving camera.

Usage: PYTHONPATH=src python tools/make_world_figure.py [--camera follow|pan] [--out docs/images] [--work DIR]
Deterministic and licence-free: the synthetic body model and the synthetic crossing walk with its ground truth. The
camera path is estimated from the rendered video's pixels (smplestx.motion.camera_motion, people masked by their true
boxes); the tracks are the truth plus a per-frame estimator's noise, put in the world with that path and smoothed
there as `infer` does with a moving camera (smplestx.motion.world_frame.place_moving_camera: the floor from the feet,
each root smoothed in the world). No matplotlib: drawn with OpenCV.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.io.atomic import write_bytes
from smplestx.io.video import VideoSource
from smplestx.motion.camera_motion import estimate_camera_motion
from smplestx.motion.feet import rest_joints
from smplestx.motion.tracks import TrackSet, camera_at
from smplestx.motion.world_frame import apply_pose, invert_pose, place_moving_camera
from smplestx.render import track_color
from smplestx.synthetic.smplx_model import write_synthetic_body
from smplestx.synthetic.walks import noisy_tracks, truth_trackset, write_walk_media

cv2.setNumThreads(1)  # OpenCV's threaded RANSAC draws its samples in another order each run
FRAMES, FPS, WIDTH, HEIGHT = 90, 30.0, 320, 240
PANEL, MARGIN = 300, 28  # pixels per panel side, and around the plot
SCALE = 3  # drawn at 3x and shrunk: smooth lines without anti-aliasing tricks


def _first_camera_ground(r: np.ndarray, t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """World points (T, 3) as seen from the first camera of the path (r (F, 3, 3), t (F, 3)), as (x, z): its right
    and its forward direction, so every panel shares the view the video starts with."""
    ri, ti = invert_pose(r[0], t[0])
    return apply_pose(ri, ti, points[None])[0][:, [0, 2]]


def _pelvis(body: BodyModel, ts: TrackSet, world: bool) -> dict[int, np.ndarray]:
    """Each track's pelvis path (T, 3): SMPL-X turns the body about the rest pelvis, so it is rest pelvis + transl."""
    return {t.track_id: rest_joints(body, t.betas)[0] + np.asarray(t.transl_world if world else t.transl, np.float64)
            for t in ts.tracks}


def _draw(panels: list[tuple[str, dict[int, np.ndarray], np.ndarray | None]], truth: dict[int, np.ndarray]
          ) -> np.ndarray:
    """Panels side by side, one top view each (x right, z away from the first camera, metres), one scale for all;
    the truth in thin grey under every panel but the truth's."""
    every = np.concatenate([p for _, paths, cam in panels for p in [*paths.values(), *([cam] if cam is not None
                                                                                          else [])]])
    lo, hi = every.min(0) - 0.3, every.max(0) + 0.3
    span = float((hi - lo).max())
    s = SCALE
    size = PANEL * s

    def px(p: np.ndarray) -> np.ndarray:
        u = (p[:, 0] - (lo[0] + hi[0]) / 2) / span * (size - 2 * MARGIN * s) + size / 2
        v = size / 2 - (p[:, 1] - (lo[1] + hi[1]) / 2) / span * (size - 2 * MARGIN * s)  # z away: up the picture
        return np.round(np.stack([u, v], 1)).astype(np.int32)

    out = []
    for title, paths, cam in panels:
        img = np.full((size, size, 3), 255, np.uint8)
        step = 1.0  # a 1 m grid
        for x in np.arange(np.floor(lo[0]), hi[0] + step, step):
            a = px(np.array([[x, lo[1] - 5], [x, hi[1] + 5]]))
            cv2.line(img, tuple(map(int, a[0])), tuple(map(int, a[1])), (232, 232, 232), s)
        for z in np.arange(np.floor(lo[1]), hi[1] + step, step):
            a = px(np.array([[lo[0] - 5, z], [hi[0] + 5, z]]))
            cv2.line(img, tuple(map(int, a[0])), tuple(map(int, a[1])), (232, 232, 232), s)
        if paths is not truth:
            for p in truth.values():
                cv2.polylines(img, [px(p)], False, (190, 190, 190), 2 * s)
        for tid, p in paths.items():
            q = px(p)
            cv2.polylines(img, [q], False, track_color(tid), 3 * s)
            cv2.circle(img, tuple(map(int, q[0])), 5 * s, track_color(tid), -1)  # where the walk starts
        if cam is not None:
            q = px(cam)
            cv2.polylines(img, [q], False, (40, 40, 40), 2 * s)
            cv2.drawMarker(img, tuple(map(int, q[0])), (40, 40, 40), cv2.MARKER_TRIANGLE_UP, 12 * s, 2 * s)
        img = cv2.resize(img, (PANEL, PANEL), interpolation=cv2.INTER_AREA)
        cv2.putText(img, title, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
        cv2.rectangle(img, (0, 0), (PANEL - 1, PANEL - 1), (200, 200, 200), 1)
        out.append(img)
    row = np.concatenate(out, axis=1)
    legend = np.full((22, row.shape[1], 3), 255, np.uint8)
    cv2.putText(legend, "top view, x right and z away from the first camera; grid 1 m. Grey: the truth. Dot: where "
                "each walk starts. Black: the camera's path, triangle at its start.", (8, 15), cv2.FONT_HERSHEY_SIMPLEX,
                0.36, (60, 60, 60), 1, cv2.LINE_AA)
    return np.concatenate([row, legend], axis=0)


def main() -> None:
    """Render the walk, estimate the camera, place the noisy tracks, draw the three top views."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--camera", default="follow", choices=("follow", "pan"))
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--work", help="keep the video and truth here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        write_synthetic_body(work / "body", seed=0)
        video, boxes_path, truth_path = write_walk_media(work / "walk.mp4", work / "body", frames=FRAMES, width=WIDTH,
                                                         height=HEIGHT, fps=FPS, camera=args.camera)
        body = BodyModel.from_dir(work / "body", dtype=torch.float64)
        with np.load(truth_path, allow_pickle=False) as z:
            truth = dict(z)
        with VideoSource(video) as src:
            images = [f.image for f in src]
        boxes = json.loads(boxes_path.read_text())["frames"]
        motion = estimate_camera_motion(images, [np.asarray(boxes.get(str(i), []), np.float64).reshape(-1, 4)
                                                 for i in range(FRAMES)], truth["focal"], truth["princpt"], mode="auto")
        # Smoothed as infer does with a moving camera: each root in the world.
        placed = place_moving_camera(noisy_tracks(truth_trackset(truth), seed=0), body, np.arange(FRAMES), motion,
                                     pin=False, smoothing="gaussian")

    true_r, true_t = truth["camera_rotation"], truth["camera_translation"]
    est_r, est_t = placed.camera_rotation, placed.camera_translation
    # Today's output: the camera-frame roots, drawn as if the camera had stood still at its first pose.
    cam_paths = {k: p[:, [0, 2]] for k, p in _pelvis(body, placed, world=False).items()}
    est_paths = {k: _first_camera_ground(est_r, est_t, p) for k, p in _pelvis(body, placed, world=True).items()}
    true_paths = {}
    for t in truth_trackset(truth).tracks:  # the truth's own camera-frame pelvis moved by its true camera
        r, tr = camera_at(TrackSet([], FPS, "none", truth["focal"], truth["princpt"], truth["image_size"], "walk",
                                   camera_frames=np.arange(FRAMES), camera_rotation=true_r,
                                   camera_translation=true_t, camera="moving"), t.frames)
        pelvis = rest_joints(body, t.betas)[0] + t.transl.astype(np.float64)
        true_paths[t.track_id] = _first_camera_ground(true_r, true_t, np.einsum("fij,fj->fi", r, pelvis) + tr)
    est_cam = _first_camera_ground(est_r, est_t, est_t)
    true_cam = _first_camera_ground(true_r, true_t, true_t)
    err = {k: float(np.linalg.norm(est_paths[k] - true_paths[k], axis=1).mean()) for k in true_paths}
    slide = {k: float(np.linalg.norm(cam_paths[k] - true_paths[k], axis=1).mean()) for k in true_paths}
    picture = _draw([("camera frame (today's track file)", cam_paths, None),
                     ("world: camera path from the pixels", est_paths, est_cam),
                     ("truth", true_paths, true_cam)], true_paths)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(picture[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    path = write_bytes(Path(args.out) / "world_top_view.png", buf.tobytes())
    print(f"{path}: {path.stat().st_size / 1024:.0f} KB; camera {args.camera}, {FRAMES} frames; mean root distance "
          f"from the truth (m), camera frame: {slide}, estimated world: {err}; camera moving={motion.moving}")


if __name__ == "__main__":
    main()
