"""``smplestx demo``: the whole infer pipeline on a fresh clone, offline, with no licensed file.

The inputs are generated on the spot: the synthetic SMPL-X body (seed 0) and a short video of mannequins with
its true boxes (so no detector download). The network is ``synthetic-tiny``, shipped inside the package and
trained on our synthetic people only (it knows them, not real photos): its meshes land in the mannequins' boxes;
this release's weights do not follow their poses yet (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: The model the demo runs (inside the package) and the seed of the synthetic body it was trained with.
DEMO_MODEL = "synthetic-tiny"
DEMO_BODY_SEED = 0


@dataclass(frozen=True)
class DemoOutputs:
    """Where the demo put things."""

    folder: Path
    body_models: Path
    video: Path
    boxes: Path
    checkpoint: Path
    results: Path  # the results .npz of the video
    overlay: Path | None
    frames: int
    people: int
    joints_in_image: float  # share of the predicted 2D joints inside the image (0 when no one was found)


def run_demo(
    folder: str | Path = "smplestx_demo",
    *,
    frames: int = 12,
    people: int = 2,
    width: int = 320,
    height: int = 240,
    device: str = "cpu",
    seed: int = 0,
) -> DemoOutputs:
    """Generate the synthetic body and a video of mannequins (scene ``seed``) in ``folder``; run synthetic-tiny on it."""
    from ..io.results import load_results
    from ..pipeline.estimator import Estimator
    from ..pipeline.run import InferenceRun, InferOptions
    from ..synthetic.scene import write_demo_media
    from ..synthetic.smplx_model import write_synthetic_body
    from ..models.zoo import resolve_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    body = folder / "body_models"
    if not (body / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        log.info("demo: writing a synthetic SMPL-X body to %s", body)
        write_synthetic_body(body, seed=DEMO_BODY_SEED)
    video, boxes, _ = write_demo_media(folder / "demo.mp4", body, people=people, frames=frames, width=width,
                                    height=height, seed=seed)
    output = folder / "results"
    estimator = Estimator(DEMO_MODEL, body, detector=f"boxes:{boxes}", device=device, batch_size=8)
    options = InferOptions(output=output, save_vertices=True, draw_keypoints=True, draw_boxes=True)
    summary = InferenceRun(estimator, options).run([video])
    item = summary.inputs[0]
    if not item.ok:
        raise RuntimeError(f"demo: inference on {video} failed: {item.error}")
    outs = [Path(p) for p in item.outputs]
    results = next((p for p in outs if p.suffix == ".npz"), output / f"{video.stem}.npz")
    overlay = next((p for p in outs if "overlay" in p.name), None)
    inside = joints_in_image(load_results(results).frames)
    if inside == 0.0:
        log.warning("demo: every predicted joint falls outside the image: the overlay shows no prediction")
    return DemoOutputs(folder, body, video, boxes, resolve_model(DEMO_MODEL).checkpoint, results, overlay,
                       summary.frames, summary.people, inside)


def joints_in_image(frames: list) -> float:
    """Share of the predicted 2D joints of all people of ``frames`` (FrameResults) that lie inside their image."""
    hits = total = 0
    for f in frames:
        for p in f.people:
            uv = p.joints_2d[:, :2]
            hits += int(((uv[:, 0] >= 0) & (uv[:, 0] < f.width) & (uv[:, 1] >= 0) & (uv[:, 1] < f.height)).sum())
            total += len(uv)
    return hits / total if total else 0.0


def _cmd_demo(args: argparse.Namespace) -> int:

    print("smplestx demo: a synthetic body and video generated here, and the packaged synthetic-tiny model "
          "(no network, no licensed file; trained on our synthetic people only: it knows them, not real photos; "
          "its heading is still often wrong, see docs/synthetic-tiny.md).",
          file=sys.stderr)
    out = run_demo(args.output, frames=args.frames, people=args.people, device=args.device, seed=args.seed)
    print(f"{out.frames} frames, {out.people} person detections -> {out.folder}/")
    print(f"  results:  {out.results}   (python: smplestx.load_results('{out.results}'))")
    if out.overlay:
        print(f"  overlay:  {out.overlay}")
    print(f"  inputs:   {out.video} (+ true boxes {out.boxes}), body models {out.body_models}")
    print(f"view it in 3D:  smplestx view {out.results}   (opens a local web page)")
    print("real weights:   smplestx infer photo.jpg --model smplest-x-h   (downloads ~8 GB once; needs the SMPL-X "
          "files, see README)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("demo", help="run the whole pipeline offline on generated inputs (the packaged synthetic-tiny model)")
    p.add_argument("output", nargs="?", default="smplestx_demo", help="folder to create (default: ./smplestx_demo)")
    p.add_argument("--frames", type=int, default=12, help="video frames")
    p.add_argument("--people", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | mps | auto")
    p.add_argument("--seed", type=int, default=0, help="seed of the scene (the body is always the synthetic seed 0)")
    p.set_defaults(func=_cmd_demo)
