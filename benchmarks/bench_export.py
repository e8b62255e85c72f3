"""Animation export of one long track: seconds per format and file sizes, as a markdown table.

Usage: python benchmarks/bench_export.py [--model-dir DIR] [--frames 1000] [--formats glb,bvh,amass] [--threads 1]
The model dir defaults to the shared parity folder's synthetic SMPL-X (same size as the real one: 10,475 vertices).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from smplestx.export import build_skeleton, densify, export_animation, skinning_error
from smplestx.export.amass import write_amass
from smplestx.export.bvh import write_bvh
from smplestx.export.gltf import write_gltf_animation
from smplestx.body import BodyModel
from smplestx.motion.tracks import Track, TrackSet

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "parity"


def make_track(frames: int, seed: int = 0) -> Track:
    """A smooth random walk of poses (radians) and positions (metres), ~4 m in front of the camera."""
    rng = np.random.default_rng(seed)

    def walk(*shape: int, s: float) -> np.ndarray:
        return (np.cumsum(rng.standard_normal((frames, *shape)), axis=0) * s / np.sqrt(frames)).astype(np.float32)

    return Track(track_id=0, frames=np.arange(frames), global_orient=walk(3, s=0.5) + np.float32([np.pi, 0, 0]),
                 body_pose=walk(21, 3, s=0.5), left_hand_pose=walk(15, 3, s=0.5), right_hand_pose=walk(15, 3, s=0.5),
                 jaw_pose=walk(3, s=0.2), betas=rng.standard_normal(10).astype(np.float32),
                 expression=walk(10, s=1.0), transl=walk(3, s=1.0) + np.float32([0, 0, 4]))


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-dir", default=str(DEFAULT_MODEL_DIR))
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--formats", default="glb,bvh,amass")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: small ops thrash on a busy machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    track = make_track(args.frames)
    ts = TrackSet(tracks=[track], fps=30.0, smoothing="none", focal=np.array([600.0, 600.0]),
                  princpt=np.array([320.0, 240.0]), image_size=np.array([640, 480]), source="bench")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        body = BodyModel.from_dir(args.model_dir, dtype=torch.float64)
        t_body = time.perf_counter() - t0
        t0 = time.perf_counter()
        skel = build_skeleton(densify(track, body), body)
        t_skel = time.perf_counter() - t0
        t0 = time.perf_counter()
        skinning_error(skel)  # timed: every export reports it
        t_err = time.perf_counter() - t0
        rows = []
        writers = {"glb": (".glb", lambda p: write_gltf_animation(p, skel, 30.0)),
                   "bvh": (".bvh", lambda p: write_bvh(p, skel, 30.0)),
                   "amass": (".amass.npz", lambda p: write_amass(p, skel, 30.0))}
        for name in args.formats.split(","):
            suffix, write = writers[name]
            t0 = time.perf_counter()
            path = write(out / f"t{suffix}")
            rows.append((name, time.perf_counter() - t0, path.stat().st_size))
        t0 = time.perf_counter()
        export_animation(ts, args.formats, args.model_dir, out / "all", stem="bench")
        t_all = time.perf_counter() - t0
    print(f"{args.frames} frames, 55 joints, {skel.rest_vertices.shape[0]} vertices, torch threads "
          f"{torch.get_num_threads()}\n")
    print("| step | seconds | file size |\n|---|---:|---:|")
    print(f"| load body model (float64) | {t_body:.2f} | |")
    print(f"| skeleton + local rotations | {t_skel:.2f} | |")
    print(f"| 4-influence skinning error (8 frames) | {t_err:.2f} | |")
    for name, secs, size in rows:
        print(f"| write {name} | {secs:.2f} | {size / 1e6:.2f} MB |")
    print(f"| **`export_animation` total ({args.formats})** | **{t_all:.2f}** | |")


if __name__ == "__main__":
    main()
