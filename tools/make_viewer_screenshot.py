"""Make docs/images/viewer.png: `smplestx view` in headless Chromium on a results file as infer writes it by default.

Usage: PYTHONPATH=src python tools/make_viewer_screenshot.py [--out docs/images/viewer.png] [--work DIR]
Needs chromium (tools/install_chromium.sh). Deterministic and licence-free: the synthetic body and the demo's
video of two mannequins. A network with random weights would give meaningless meshes (the demo's land outside the
picture), so the ground truth stands where a trained network's output would be (what a perfect network reports in
its crop cameras, `smplestx.synthetic.scene.crop_camera_oracle`); everything after it is the package's own: the
scene camera fit, the results writer WITHOUT vertices (infer's default), and the viewer posing the meshes from
the parameters. Left: the page as it opens (meshes over the video frame); right: the same view with the image
hidden and the 2D keypoints shown.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np
import torch

from smplestx.body import BodyModel
from smplestx.io.results import FrameResult, ResultsWriter
from smplestx.geometry.scene_camera import SceneCamera, express_in_scene
from smplestx.synthetic.scene import crop_camera_oracle, demo_people, write_demo_media
from smplestx.synthetic.smplx_model import write_synthetic_body
from smplestx.synthetic.truth import scene_focal
from smplestx.viewer import make_server, url_of

W, H, FPS, FRAMES, SHOW = 640, 480, 10.0, 12, 6
PANE = (480, 360)


def write_results(work: Path) -> Path:
    """The demo video and its results file (no vertices), people tracked as 0 and 1."""
    body_dir = work / "body_models"
    write_synthetic_body(body_dir, seed=0)
    video, _, _ = write_demo_media(work / "demo.mp4", body_dir, people=2, frames=FRAMES, width=W, height=H, fps=FPS)
    body = BodyModel.from_dir(body_dir, dtype=torch.float64)
    focal = scene_focal(W, H)  # the camera write_demo_media renders with
    frames = []
    for i in range(FRAMES):
        people = crop_camera_oracle(body, demo_people(2, i, FPS), W, H, (focal, focal), (W / 2, H / 2))
        for k, p in enumerate(people):
            p.track_id, p.vertices = k, None
        frames.append(FrameResult(i, i / FPS, W, H, people))
    express_in_scene(frames, SceneCamera())  # the default scene camera, as infer without --focal/--fov
    results = work / "results" / "demo.npz"
    with ResultsWriter(results, meta={"source": str(video), "fps": FPS}, image_size=(W, H)) as writer:
        for fr in frames:
            writer.add(fr)
    return results


def shoot(browser: str, url: str, out: Path, profile: Path) -> np.ndarray:
    """One headless-Chromium screenshot of ``url`` (software WebGL), read back as BGR."""
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader", f"--user-data-dir={profile}",
           f"--window-size={PANE[0]},{PANE[1]}", "--hide-scrollbars", "--virtual-time-budget=20000",
           f"--screenshot={out}", url]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    return cv2.imread(str(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images/viewer.png")
    ap.add_argument("--work", help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: bash tools/install_chromium.sh")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        results = write_results(work)
        server = make_server(results, port=0, body_models=work / "body_models")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = url_of(server)
            left = shoot(browser, f"{url}?frame={SHOW}", work / "a.png", work / "profile")
            right = shoot(browser, f"{url}?frame={SHOW}&image=0&keypoints=1", work / "b.png", work / "profile")
        finally:
            server.shutdown()
            server.server_close()
    picture = np.concatenate([left, np.full((PANE[1], 6, 3), 255, np.uint8), right], axis=1)
    picture = (picture // 8) * 8 + 4  # 32 levels per channel: the noisy video background then compresses to < 200 KB
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
