"""Mesh overlay speed on CPU: milliseconds per 1280x720 frame for 1 and 4 people, as a markdown table.

The body is the synthetic SMPL-X mannequin (``smplestx.synthetic.smplx_model``, 10475 vertices / 20908 faces), or the
template of ``../shared/parity/smplx/SMPLX_NEUTRAL.npz`` when that module is missing.  People stand 3.5-5 m from a
camera with a 1300 px focal length, so one person covers about half of the frame's height.

Usage: python benchmarks/bench_render.py [--repeats 15] [--threads N] [--save out.png]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from smplestx.render import Renderer

PARITY_NPZ = Path(__file__).resolve().parents[1].parent / "shared" / "parity" / "smplx" / "SMPLX_NEUTRAL.npz"
HEIGHT, WIDTH = 720, 1280
FOCAL, PRINCPT = (1300.0, 1300.0), (640.0, 360.0)
# (x offset, depth) of each person in metres: side by side, partly occluding each other.
PLACES = [(-0.3, 3.5), (-1.5, 4.5), (0.9, 4.1), (2.0, 5.0)]


def load_body() -> tuple[np.ndarray, np.ndarray, str]:
    """Template vertices in the OpenCV camera frame (centred, facing the camera), faces, and the source name."""
    try:
        from smplestx.synthetic.smplx_model import make_synthetic_arrays

        arrays = make_synthetic_arrays()
        source = "synthetic mannequin"
    except ImportError:
        arrays = dict(np.load(PARITY_NPZ, allow_pickle=False))
        source = f"template of {PARITY_NPZ.name}"
    v = np.asarray(arrays["v_template"], dtype=np.float64) * [1.0, -1.0, -1.0]  # y up, facing +z -> OpenCV
    v -= (v.min(0) + v.max(0)) / 2
    return v, np.asarray(arrays["f"], dtype=np.int64), source


def background() -> np.ndarray:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([30 + xs * 200 // WIDTH, 30 + ys * 200 // HEIGHT, np.full_like(xs, 120)], -1).astype(np.uint8)


def time_ms(fn, repeats: int) -> tuple[float, float]:
    """Median and best wall time in ms after two warm-up calls (best is robust to a busy machine)."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="the 'all threads' setting")
    parser.add_argument("--save", type=Path, default=None, help="also write the 4-person overlay as an image")
    args = parser.parse_args()

    verts, faces, source = load_body()
    image = background()
    people = [verts + [dx, 0.0, z] for dx, z in PLACES]
    closeup = [verts + [0.0, 0.45, 0.45]]  # the face fills the frame: big triangles, partly outside the image
    renderer = Renderer(faces)
    cases = [("1 person", people[:1]), ("4 people", people), ("close-up face", closeup)]
    thread_counts = sorted({1, max(1, args.threads)})
    for label, meshes in cases:
        covered = int(renderer.rasterize(meshes, FOCAL, PRINCPT, HEIGHT, WIDTH).mask.sum())
        print(f"<!-- {label}: {covered} covered pixels -->")

    print(f"\nMesh overlay, {WIDTH}x{HEIGHT}, {source} ({len(verts)} vertices, {len(faces)} faces), "
          f"smooth shading; ms per frame, median / best of {args.repeats}\n")
    print("| scene | " + " | ".join(f"{n} thread{'s' if n > 1 else ''}" for n in thread_counts) + " |")
    print("|---|" + "---:|" * len(thread_counts))
    old = torch.get_num_threads()
    try:
        for label, meshes in cases:
            cells = []
            for n in thread_counts:
                torch.set_num_threads(n)
                med, best = time_ms(lambda: renderer.render(image, meshes, FOCAL, PRINCPT), args.repeats)
                cells.append(f"{med:.1f} / {best:.1f}")
            print(f"| {label} | " + " | ".join(cells) + " |")
    finally:
        torch.set_num_threads(old)
    if args.save is not None:
        import cv2

        cv2.imwrite(str(args.save), renderer.render(image, people, FOCAL, PRINCPT)[..., ::-1])


if __name__ == "__main__":
    main()
