"""Make the pictures of docs/motion-capture.md: video frame, tracking, smoothing plot, Blender render, feet plot.

Usage: PYTHONPATH=src python tools/make_motion_capture_figures.py [--out docs/images] [--work DIR]
       [--blender-python PATH]   (default: $SMPLESTX_BPY_PYTHON; without it the Blender picture is skipped)
Deterministic and licence-free: the synthetic body model and the synthetic crossing walk with its ground truth.
A network with random weights would give meaningless meshes, so the ground truth stands where a trained
network's output would be; the tracker and the smoothing are the package's own, run on noisy inputs.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.export import export_animation
from smplestx.io.atomic import write_bytes
from smplestx.io.video import VideoSource
from smplestx.motion.contacts import foot_points
from smplestx.motion.contacts import heights as heights_above
from smplestx.motion.feet import body_joints, pin_feet
from smplestx.motion.smoothing import smooth, smooth_track
from smplestx.motion.tracker import Tracker
from smplestx.motion.tracks import Track, TrackSet, save_tracks
from smplestx.render import Renderer, draw_boxes, track_color
from smplestx.synthetic.smplx_model import write_synthetic_body
from smplestx.synthetic.walks import noisy_detections, noisy_tracks, truth_trackset, write_walk_media

FRAMES, FPS = 90, 30.0
BEFORE, AFTER = 8, 76  # frames before and after the walkers cross (the nearer hides the farther in frames 53-73)
BLENDER_FRAME = 20  # a frame of the exported clip where the mannequin is mid-stride
ANKLE = 7  # SMPL-X joint index of the left ankle
log = logging.getLogger("make_motion_capture_figures")


def truth_track(truth: dict[str, np.ndarray], person: int) -> Track:
    """One walker's true per-frame parameters as a Track (flat hands, neutral face: the walk has none)."""
    rows = np.flatnonzero(truth["person_id"] == person)
    n = len(rows)
    zeros = np.zeros
    return Track(person, truth["frame"][rows].astype(np.int64), truth["global_orient"][rows],
                 truth["body_pose"][rows], zeros((n, 15, 3), np.float32), zeros((n, 15, 3), np.float32),
                 zeros((n, 3), np.float32), truth["betas"][rows[0]], zeros((n, 10), np.float32),
                 truth["transl"][rows])


def joints(body: BodyModel, t: Track) -> np.ndarray:
    """(T, 55, 3) posed joints of a track, camera frame, metres."""
    arrays = dict(global_orient=t.global_orient, body_pose=t.body_pose, left_hand_pose=t.left_hand_pose,
                  right_hand_pose=t.right_hand_pose, jaw_pose=t.jaw_pose, expression=t.expression,
                  transl=t.transl, betas=np.repeat(t.betas[None], len(t), 0))
    with torch.no_grad():
        out = body(**{k: torch.as_tensor(v, dtype=body.dtype) for k, v in arrays.items()})
    return out.joints[:, :55].numpy()


def video_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The RGB images of the wanted frame indices, read with the package's video reader."""
    with VideoSource(path) as src:
        return {f.index: f.image for f in src if f.index in wanted}


def track_walk(truth: dict[str, np.ndarray]) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Run the tracker on detector-like noisy boxes plus shape/3D cues; (detections, track ids) per frame."""
    tracker = Tracker(fps=FPS)
    return [(d, tracker.update(d["boxes"], d["scores"], d["betas"], d["positions"]))
            for d in noisy_detections(truth, seed=0)]


def after_crossing(tracked: list[tuple[dict[str, np.ndarray], np.ndarray]]) -> int:
    """The first frame from AFTER on where both walkers are detected and tracked (a frame with a miss says less)."""
    for f in range(AFTER, len(tracked)):
        d, ids = tracked[f]
        if {0, 1} <= set(d["truth_id"][ids >= 0].tolist()):
            return f
    raise RuntimeError("no frame after the crossing with both walkers tracked")


def tracking_figure(truth: dict[str, np.ndarray], body: BodyModel, images: dict[int, np.ndarray],
                    tracked: list[tuple[dict[str, np.ndarray], np.ndarray]]) -> np.ndarray:
    """Two frames side by side: each tracked box and its person's mesh in the track's colour, labelled #id."""
    renderer = Renderer(body.faces_np)
    panels = []
    for f in sorted(images):
        d, ids = tracked[f]
        keep = np.flatnonzero(ids >= 0)
        meshes, colors = [], []
        for i in keep:
            if d["truth_id"][i] < 0:  # a tracked false positive has no body to draw
                continue
            row = np.flatnonzero((truth["frame"] == f) & (truth["person_id"] == d["truth_id"][i]))[0]
            params = {k: torch.as_tensor(truth[k][row:row + 1]) for k in ("global_orient", "body_pose", "betas",
                                                                            "transl")}
            with torch.no_grad():
                meshes.append(body(**params).vertices[0].numpy())
            colors.append(track_color(int(ids[i])))
        img = renderer.render(images[f], meshes, [truth["focal"]] * len(meshes), [truth["princpt"]] * len(meshes),
                              colors=colors, alpha=0.9)
        img = draw_boxes(img, d["boxes"][keep], [f"#{ids[i]}" for i in keep],
                         colors=[track_color(int(ids[i])) for i in keep], font_scale=0.7)
        cv2.putText(img, f"frame {f}", (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
        panels.append(img)
    strip = np.concatenate([panels[0], np.full((panels[0].shape[0], 8, 3), 255, np.uint8), panels[1]], axis=1)
    return cv2.resize(strip, (960, round(strip.shape[0] * 960 / strip.shape[1])), interpolation=cv2.INTER_AREA)


def save_png(path: Path, rgb: np.ndarray, bits: int = 0) -> Path:
    """Write a small PNG atomically: drop ``bits`` low bits per channel (the noisy backdrop), best compression."""
    q = (rgb >> bits) << bits if bits else rgb
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(q[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError(f"{path}: OpenCV could not encode the image")
    return write_bytes(path, buf.tobytes())


def noisy_track(t: Track, seed: int = 0) -> Track:
    """Estimator-like noise: about 3 degrees on every joint rotation and 2 cm on the translation, per frame."""
    rng = np.random.default_rng(seed)
    aa = {k: (getattr(t, k) + rng.normal(0, np.deg2rad(3) / np.sqrt(3), getattr(t, k).shape)).astype(np.float32)
          for k in ("global_orient", "body_pose")}
    return replace(t, **aa, transl=(t.transl + rng.normal(0, 0.02, t.transl.shape)).astype(np.float32))


def plot(series: list[tuple[str, np.ndarray, tuple[int, int, int], int]], t: np.ndarray, ylabel: str,
         size: tuple[int, int] = (640, 320)) -> np.ndarray:
    """A line plot drawn with OpenCV: (label, values, RGB colour, thickness) per series, x = time in seconds."""
    w, h = size
    left, right, top, bottom = 62, 12, 36, 40
    img = np.full((h, w, 3), 255, np.uint8)
    lo = min(float(v.min()) for _, v, _, _ in series)
    hi = max(float(v.max()) for _, v, _, _ in series)
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)

    def px(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u = left + (x - t[0]) / (t[-1] - t[0]) * (w - left - right)
        v = top + (hi - y) / (hi - lo) * (h - top - bottom)
        return np.round(np.stack([u, v], 1) * 16).astype(np.int32)  # 4 fractional bits, as cv2 shift=4

    font, grey = cv2.FONT_HERSHEY_SIMPLEX, (150, 150, 150)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), grey, 1)
    for yv in np.linspace(lo, hi, 5)[1:-1]:  # horizontal grid with value labels
        (_, y), = px(np.array([t[0]]), np.array([yv])) // 16
        cv2.line(img, (left, int(y)), (w - right, int(y)), (225, 225, 225), 1)
        cv2.putText(img, f"{yv:.1f}", (4, int(y) + 4), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    for xv in np.arange(0, t[-1] + 1e-9, 0.5):
        (x, _), = px(np.array([xv]), np.array([lo])) // 16
        cv2.putText(img, f"{xv:.1f}", (int(x) - 10, h - bottom + 16), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, "time (s)", (w // 2 - 30, h - 6), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, ylabel, (left, 14), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    x0 = left + 4
    for label, values, color, thick in series:
        cv2.polylines(img, [px(t, values)], False, color, thick, cv2.LINE_AA, 4)
        cv2.line(img, (x0, 27), (x0 + 22, 27), color, 3)
        cv2.putText(img, label, (x0 + 27, 31), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x0 += 36 + cv2.getTextSize(label, font, 0.45, 1)[0][0]
    return img


def blender_figure(glb: Path, png: Path, bpy_python: str) -> bool:
    """Render the exported .glb in Blender (subprocess; Blender's Python is separate); False if it fails."""
    helper = Path(__file__).with_name("blender_render_glb.py")
    try:
        proc = subprocess.run([bpy_python, str(helper), str(glb), str(png), str(BLENDER_FRAME)],
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("Blender render failed: %s", exc)
        return False
    if proc.returncode != 0 or not png.exists():
        log.warning("Blender render failed (exit %d): %s", proc.returncode, proc.stderr[-2000:])
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Build the synthetic scene in a work folder and write the PNGs; print the run time."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    ap.add_argument("--work", type=Path, default=None, help="keep the intermediate files here (default: a temp dir)")
    ap.add_argument("--blender-python", default=os.environ.get("SMPLESTX_BPY_PYTHON"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()
    torch.manual_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        body_dir = write_synthetic_body(work / "body", seed=0).parent  # = `smplestx synthetic-body DIR`
        video, _, truth_path = write_walk_media(work / "walk.mp4", body_dir, scenario="crossing", frames=FRAMES,
                                                fps=FPS)  # = `smplestx synthetic-media walk.mp4 --walk crossing`
        with np.load(truth_path, allow_pickle=False) as z:
            truth = {k: z[k] for k in z.files}
        body = BodyModel.from_dir(body_dir, dtype=torch.float32)
        tracked = track_walk(truth)
        frames = (BEFORE, after_crossing(tracked))
        images = video_frames(video, set(frames))
        written = [save_png(args.out / "mocap_1_video.png", images[BEFORE], bits=3),
                   save_png(args.out / "mocap_2_tracking.png", tracking_figure(truth, body, images, tracked), bits=3)]
        # Smoothing: the truth of walker 0, made noisy like a per-frame estimate, then the default filter.
        true = truth_track(truth, 0)
        noisy = noisy_track(true)
        smoothed = smooth_track(noisy, "gaussian", FPS)
        # Camera frame has y down: height is minus y, shown in cm above the ankle's lowest true point.
        heights = [-joints(body, tr)[:, ANKLE, 1] for tr in (noisy, smoothed, true)]
        floor = heights[2].min()
        series = [(label, 100 * (h - floor), color, thick) for (label, color, thick), h in zip(
            [("noisy per-frame", (240, 150, 150), 1), ("smoothed (gaussian, sigma=2)", (30, 90, 220), 2),
             ("ground truth", (0, 0, 0), 1)], heights)]
        written.append(save_png(args.out / "mocap_3_smoothing.png",
                                plot(series, true.frames / FPS, "left ankle height (cm above its lowest true point)")))
        # Feet: the same kind of noise on both walkers, the default filter, then --feet none against --feet pin.
        true_set = truth_trackset(truth)
        unpinned = smooth(noisy_tracks(true_set, seed=0), "gaussian")
        pinned = pin_feet(unpinned, body)
        walker = [t.track_id for t in true_set.tracks].index(0)
        heel = [100 * heights_above(foot_points(body_joints(body, ts.tracks[walker])), truth["floor"])[:, 0]
                for ts in (unpinned, pinned, true_set)]
        series = [(label, h, color, thick) for (label, color, thick), h in zip(
            [("--feet none (smoothed)", (240, 150, 150), 1), ("--feet pin", (30, 90, 220), 2),
             ("ground truth", (0, 0, 0), 1)], heel)]
        written.append(save_png(args.out / "mocap_5_feet.png", plot(series, true_set.tracks[walker].frames / FPS,
                                                                    "left heel height above the floor (cm)")))
        # Export: the true walker as a track file, then glTF, as `smplestx export ... --format glb` does.
        tracks = save_tracks(work / "walk.tracks.npz", TrackSet([true], FPS, "none", truth["focal"],
                                                               truth["princpt"], truth["image_size"], str(video)))
        glb = export_animation(tracks, "glb", body_dir, work).files[0]["glb"]
        png = work / "blender.png"
        if args.blender_python and blender_figure(glb, png, args.blender_python):
            written.append(save_png(args.out / "mocap_4_blender.png", cv2.imread(str(png))[:, :, ::-1], bits=2))
        else:
            log.warning("no Blender picture: set --blender-python or SMPLESTX_BPY_PYTHON to a Python with bpy")
    for p in written:
        print(f"wrote {p} ({p.stat().st_size / 1024:.0f} KB)")
    print(f"run time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
