"""Make the README's demo figure: one frame of `smplestx demo`'s input beside its overlay (synthetic-tiny's meshes).

Usage: python tools/make_demo_figure.py [--out docs/images/synthetic_tiny_demo.png] [--frame 10]
Runs the demo in a temporary folder (the packaged model, no download) and writes the two frames side by side.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np


def read_frame(video: Path, index: int) -> np.ndarray:
    """Frame ``index`` (BGR) of a video, or exit with the reason."""
    cap = cv2.VideoCapture(str(video))
    frame = None
    for _ in range(index + 1):
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{video}: has fewer than {index + 1} frames")
    cap.release()
    return frame


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/images/synthetic_tiny_demo.png"))
    ap.add_argument("--frame", type=int, default=10)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        subprocess.run([sys.executable, "-m", "smplestx", "demo", str(demo)], check=True)
        left = read_frame(demo / "demo.mp4", args.frame)
        right = read_frame(demo / "results" / "demo_overlay.mp4", args.frame)
    gap = np.full((left.shape[0], 8, 3), 255, np.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.concatenate((left, gap, right), axis=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
