"""``smplestx demo``: the whole infer pipeline on a fresh clone, offline, with no licensed file.

Everything is generated on the spot: a synthetic SMPL-X body, a short video of mannequins with its
true boxes (so no detector download), and a tiny SMPLest-X network with random weights. Random
weights give meaningless poses: the demo shows the outputs and how to look at them, not accuracy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import DecoderConfig, EncoderConfig, ModelConfig

log = logging.getLogger(__name__)

#: A tiny network of the SMPLest-X architecture (a few MB): fast on any CPU.
TINY_CONFIG = ModelConfig(
    encoder=EncoderConfig(embed_dim=64, depth=2, num_heads=4),
    decoder=DecoderConfig(feat_dim=64, dim_out=32),
)


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


def write_random_model(path: str | Path, config: ModelConfig = TINY_CONFIG, seed: int = 0) -> Path:
    """Build a network of ``config`` with seeded random weights and save it as safetensors."""
    from .checkpoint import save_network
    from .nn.network import SMPLestXNet

    # A private RNG stream: the same seed gives the same file, and the caller's torch RNG is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SMPLestXNet(config)
    return save_network(net, path, source=f"random init, seed {seed} (smplestx demo; meaningless poses)")


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
    """Generate the synthetic inputs and a random tiny model in ``folder``, then run infer on them."""
    from .synthetic.scene import write_demo_media
    from .synthetic.smplx_model import write_synthetic_body
    from .pipeline.estimator import Estimator
    from .pipeline.run import InferenceRun, InferOptions

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    body = folder / "body_models"
    if not (body / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        log.info("demo: writing a synthetic SMPL-X body to %s", body)
        write_synthetic_body(body, seed=seed)
    video, boxes = write_demo_media(folder / "demo.mp4", body, people=people, frames=frames, width=width,
                                    height=height)
    checkpoint = write_random_model(folder / "tiny_random.safetensors", seed=seed)
    output = folder / "results"
    estimator = Estimator(str(checkpoint), body, detector=f"boxes:{boxes}", device=device, batch_size=8)
    options = InferOptions(output=output, save_vertices=True, draw_keypoints=True, draw_boxes=True)
    summary = InferenceRun(estimator, options).run([video])
    item = summary.inputs[0]
    if not item.ok:
        raise RuntimeError(f"demo: inference on {video} failed: {item.error}")
    outs = [Path(p) for p in item.outputs]
    results = next((p for p in outs if p.suffix == ".npz"), output / f"{video.stem}.npz")
    overlay = next((p for p in outs if "overlay" in p.name), None)
    return DemoOutputs(folder, body, video, boxes, checkpoint, results, overlay, summary.frames, summary.people)
