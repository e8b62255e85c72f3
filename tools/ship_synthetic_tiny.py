"""Pack a finished `synthetic_tiny` training run into the package's `synthetic-tiny` weights (fp16 safetensors).

    python tools/ship_synthetic_tiny.py outputs/synthetic_tiny --data data/synthetic_tiny \
        [--curve heldout_curve.jsonl] [--out src/smplestx/models_data/synthetic_tiny.safetensors]

The newest snapshot of the run is cast to fp16, scored on the held-out split (``synthetic_test.npz``) as shipped,
and written with metadata: model config, the body model it needs (fingerprint, seed, how to make it), licence,
recipe (the training config), seed, steps, wall time, held-out scores and the learning curve.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

import torch

from smplestx.body import BodyModel
from smplestx.models.checkpoint import (BODY_METADATA_KEY, CONFIG_METADATA_KEY, IGNORED_KEYS, write_safetensors,
                                 read_checkpoint)
from smplestx.fingerprint import body_model_fingerprint
from smplestx.models.loading import load_model
from smplestx.evaluate.heldout import evaluate_heldout
from smplestx.models.zoo import get_model

MAX_BYTES = 10 * 2**20
BODY_SEED = 0


def newest_snapshot(run: Path) -> Path:
    """The run's newest snapshot: the last epoch's safetensors, or a later mid-epoch step file."""
    ckpt = run / "checkpoints"
    latest = (ckpt / "latest").read_text().strip() if (ckpt / "latest").is_file() else ""
    if latest:
        return ckpt / latest
    snaps = sorted(ckpt.glob("snapshot_*.pth.tar"), key=lambda p: int(re.findall(r"\d+", p.name)[0]))
    if not snaps:
        raise SystemExit(f"{ckpt}: no snapshot")
    return snaps[-1]


def training_record(run: Path, snapshot: Path) -> tuple[int, float, list[dict]]:
    """(steps, wall seconds, loss curve) from the run's metrics.jsonl and the snapshot's name."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{run}/metrics.jsonl: empty")
    # Wall time: the sum of the logged windows, each the mean step of `log_every` steps (a pause does not count).
    every = rows[1]["iteration"] - rows[0]["iteration"] if len(rows) > 1 else 1
    wall = sum(r["step_time"] + r["data_time"] for r in rows) * every
    curve = [{"iteration": r["iteration"], "loss": round(r["total"], 3)} for r in rows]
    number = int(re.findall(r"\d+", snapshot.name)[0])
    steps = (number + 1) * rows[-1]["iters_per_epoch"] if snapshot.name.startswith("snapshot_") else number
    return int(steps), float(wall), curve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="the training output folder")
    ap.add_argument("--data", type=Path, required=True, help="the synthetic data folder (annotations/, images/, body_models/)")
    ap.add_argument("--curve", type=Path, help="held-out scores against steps (JSON lines) to record")
    ap.add_argument("--out", type=Path, default=Path("src/smplestx/models_data/synthetic_tiny.safetensors"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    snapshot = newest_snapshot(args.run)
    state, cfg = read_checkpoint(snapshot)
    if cfg is None:
        raise SystemExit(f"{snapshot}: no model config stored")
    body_dir = args.data / "body_models"
    body = BodyModel.from_dir(body_dir, "neutral")
    train_cfg = (args.run / "config.toml").read_text()
    steps, wall, loss_curve = training_record(args.run, snapshot)
    heldout_curve = []
    if args.curve and args.curve.is_file():
        heldout_curve = [json.loads(line) for line in args.curve.read_text().splitlines() if line.strip()]
    seed = int(re.search(r"^seed = (\d+)", train_cfg, re.M).group(1))  # type: ignore[union-attr]
    tensors = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
               for k, v in state.items() if k not in IGNORED_KEYS}
    meta = {
        CONFIG_METADATA_KEY: json.dumps(cfg.to_dict()),
        BODY_METADATA_KEY: json.dumps({"fingerprint": body_model_fingerprint(body), "seed": BODY_SEED,
                                       "made_by": f"smplestx synthetic-body DIR --seed {BODY_SEED}"}),
        "format": "pt", "dtype": "fp16", "source": f"{args.run.name}/{snapshot.name}",
        "name": "synthetic-tiny", "licence": get_model("synthetic-tiny").licence,
        "recipe": train_cfg, "seed": str(seed), "steps": str(steps), "wall_time_s": f"{wall:.0f}",
        "loss_curve": json.dumps(loss_curve[:: max(1, len(loss_curve) // 60)] + loss_curve[-1:]),
        "heldout_curve": json.dumps(heldout_curve),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(tensors, args.out, meta)
    # Score what is shipped (fp16 weights, read back as float32), then record the scores in the same file.
    model = load_model(args.out, body_models=body_dir)
    scores = evaluate_heldout(model, args.data / "annotations" / "synthetic_test.npz", args.data / "images")
    meta["heldout"] = json.dumps(scores.as_dict())
    write_safetensors(tensors, args.out, meta)
    size = args.out.stat().st_size
    print(json.dumps({"out": str(args.out), "bytes": size, "steps": steps, "heldout": scores.as_dict()}))
    if size > MAX_BYTES:
        print(f"{args.out}: {size} bytes is over the 10 MiB budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
