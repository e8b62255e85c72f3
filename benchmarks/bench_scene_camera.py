"""Scene camera (issue 16) on synthetic scenes with known intrinsics: translation error, depth jitter, solve cost.

An oracle stands in for the network: the true pose and shape, with the translation that projects the
body right under each crop's camera (``crop_camera_oracle``). Each person is then re-expressed in the
scene camera (the true intrinsics) and compared with the truth.

Usage: python benchmarks/bench_scene_camera.py [--model-dir DIR] [--frames 30] [--jitter 5]
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
from smplestx.synthetic.scene import ScenePerson, crop_camera_oracle, demo_people
from smplestx.geometry.cameras import fit_translation
from smplestx.io.results import FrameResult
from smplestx.geometry.scene_camera import SceneCamera, express_in_scene

W, H = 640, 480


def standing(x: float, z: float) -> ScenePerson:
    """A mannequin with its arms down, facing the camera."""
    arms = np.zeros((21, 3))
    arms[15], arms[16] = [0, 0, -1.1], [0, 0, 1.1]
    return ScenePerson((x, 0.25, z), body_pose=arms)


SCENES = {
    "3 walking, 5-5.4 m (10 frames)": lambda i: demo_people(3, frame=i),
    "near: 2.5 m, 0.8 m off-centre": lambda i: [standing(-0.8, 2.5), standing(0.8 + 0.01 * i, 2.5)],
    "far: 10-12 m": lambda i: [standing(-2.0, 10.0), standing(0.5 + 0.01 * i, 12.0)],
}


def translation_errors(body: BodyModel, focal: float, scene) -> tuple[np.ndarray, float]:
    """Per-person |transl_scene - truth| (m) over 10 frames, and the mean per-person (crop) camera depth."""
    errs, crop_z = [], []
    for i in range(10):
        people = scene(i)
        oracle = crop_camera_oracle(body, people, W, H, (focal, focal), (W / 2, H / 2))
        express_in_scene([FrameResult(i, 0.0, W, H, oracle)], SceneCamera(intrinsics=(focal, focal, W / 2, H / 2)))
        errs += [np.linalg.norm(p.transl_scene - np.array(s.transl)) for p, s in zip(oracle, people)]
        crop_z += [p.transl[2] for p in oracle]
    return np.array(errs), float(np.mean(crop_z))


def depth_jitter(body: BodyModel, focal: float, frames: int, jitter: float) -> tuple[float, float, float, float]:
    """A person standing still at 4 m, boxes jittered by +-jitter px: (crop z mean, crop z std, scene z mean, scene z std)."""
    person = [standing(0.3, 4.0)]
    true_box = crop_camera_oracle(body, person, W, H, (focal, focal), (W / 2, H / 2))[0].box_xyxy
    rng = np.random.default_rng(0)
    crop_z, scene_z = [], []
    for i in range(frames):
        box = true_box + rng.uniform(-jitter, jitter, 4)
        (p,) = crop_camera_oracle(body, person, W, H, (focal, focal), (W / 2, H / 2), boxes_xyxy=box[None])
        express_in_scene([FrameResult(i, 0.0, W, H, [p])], SceneCamera(intrinsics=(focal, focal, W / 2, H / 2)))
        crop_z.append(p.transl[2])
        scene_z.append(p.transl_scene[2])
    return float(np.mean(crop_z)), float(np.std(crop_z)), float(np.mean(scene_z)), float(np.std(scene_z))


def solve_cost(n: int, repeats: int = 20) -> float:
    """Median microseconds per person of the batched translation fit (137 joints, 2 px noise)."""
    rng = np.random.default_rng(0)
    pts = rng.normal(scale=0.4, size=(n, 137, 3))
    t = np.column_stack([rng.uniform(-2, 2, n), rng.uniform(-1, 1, n), rng.uniform(2, 10, n)])
    u = (pts + t[:, None])[..., :2] / (pts + t[:, None])[..., 2:] * 800.0 + 320.0 + rng.normal(scale=2, size=(n, 137, 2))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit_translation(pts, u, np.array([800.0, 800.0]), np.array([320.0, 240.0]))
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / n * 1e6


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="SMPL-X model folder (default: a synthetic one written to a temp folder)")
    parser.add_argument("--frames", type=int, default=30, help="frames of the jitter test")
    parser.add_argument("--jitter", type=float, default=5.0, help="box jitter, +- pixels on each side")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.model_dir) if args.model_dir else write_synthetic_body(tmp, seed=0).parent
        body = BodyModel.from_dir(model_dir, dtype=torch.float64)
        print(f"{W}x{H} scenes, truth seen with focal 800 px, principal point at the centre\n")
        print("| scene | people | transl error mean (cm) | max (cm) | per-person camera z, mean (m) |")
        print("|---|---:|---:|---:|---:|")
        for name, scene in SCENES.items():
            err, crop_z = translation_errors(body, 800.0, scene)
            print(f"| {name} | {err.size} | {100 * err.mean():.2f} | {100 * err.max():.2f} | {crop_z:.1f} |")
        print(f"\nStanding person at 4 m, {args.frames} frames, boxes jittered by +-{args.jitter:g} px (F = 800)\n")
        print("| camera | depth mean (m) | depth std (m) | std / mean |")
        print("|---|---:|---:|---:|")
        cm, cs, sm, ss = depth_jitter(body, 800.0, args.frames, args.jitter)
        print(f"| per person (crop camera) | {cm:.2f} | {cs:.3f} | {cs / cm:.2%} |")
        print(f"| scene camera | {sm:.3f} | {ss:.6f} | {ss / sm:.4%} |")
        print("\n| people per solve | us / person |")
        print("|---:|---:|")
        for n in (1, 16, 256):
            print(f"| {n} | {solve_cost(n):.1f} |")


if __name__ == "__main__":
    main()
