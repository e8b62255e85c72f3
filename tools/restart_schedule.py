"""Start a new training schedule from a finished run's snapshot: its weights, heat-map head and Adam moments at step 0.

    python tools/restart_schedule.py OLD_RUN/checkpoints/snapshot_7.pth.tar NEW_RUN CONFIG.toml --people N

Writes ``NEW_RUN/checkpoints/step_0.pth.tar`` (and ``latest``), so that ``smplestx train CONFIG --resume`` (with
``train.output_dir`` = NEW_RUN) runs a fresh cosine schedule, ``train.lr`` -> ``train.min_lr`` over ``end_epoch``
epochs of ceil(N / batch_size) steps, from the old run's state. ``model.finetune_from`` takes the network only:
this keeps the training-only heat-map head too. N is the new training set's person count (the train log prints it).
"""

from __future__ import annotations

import argparse
import math
import sys
import tomllib
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("snapshot", type=Path, help="a .pth.tar training snapshot of the old run")
    ap.add_argument("run", type=Path, help="the new run's output folder (must hold no snapshot yet)")
    ap.add_argument("config", type=Path, help="the new run's training config (its [train] lr, min_lr, end_epoch)")
    ap.add_argument("--people", type=int, required=True, help="people in the new training set")
    args = ap.parse_args(argv)
    if args.people < 1:
        raise SystemExit(f"--people must be at least 1, got {args.people}")
    ckpt = args.run / "checkpoints"
    if any(ckpt.glob("*.pth.tar")):
        raise SystemExit(f"{ckpt}: already holds snapshots; pick a new run folder")
    train = tomllib.loads(args.config.read_text())["train"]
    lr, min_lr = float(train["lr"]), float(train.get("min_lr", 0.0))
    t_max = int(train["end_epoch"]) * math.ceil(args.people / int(train["batch_size"]))
    state = torch.load(args.snapshot, weights_only=True, map_location="cpu")
    for group in state["optimizer"]["param_groups"]:
        group["lr"] = group["initial_lr"] = lr
    groups = len(state["scheduler"]["base_lrs"])
    state["scheduler"].update(T_max=t_max, eta_min=min_lr, base_lrs=[lr] * groups, last_epoch=0, _step_count=1,
                              _last_lr=[lr] * groups)
    # Step 0 of epoch 0; "epoch" is the last completed one, as the snapshots write it.
    state.update(iteration=0, resume_epoch=0, epoch_iteration=0, epoch=-1)
    ckpt.mkdir(parents=True, exist_ok=True)
    torch.save(state, ckpt / "step_0.pth.tar")
    (ckpt / "latest").write_text("step_0.pth.tar\n")
    print(f"{ckpt / 'step_0.pth.tar'}: {args.snapshot}'s state, lr {lr} -> {min_lr} over {t_max} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
