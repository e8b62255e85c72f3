"""`smplestx train`: train or finetune, one process or many."""

from __future__ import annotations

import argparse
import logging




def _cmd_train(args: argparse.Namespace) -> int:
    import os

    from ..train.trainer import run_training

    rank0 = os.environ.get("RANK", "0") == "0"
    if rank0 and not args.quiet:
        # Progress lines are INFO records of the trainer; other ranks stay quiet.
        logging.getLogger("smplestx.train").setLevel(logging.INFO)
    result = run_training(args.config, args.set, output=args.output, resume=True if args.resume else None)
    if rank0:
        state = "stopped early; continue with --resume" if result.stopped_early else "done"
        print(f"{state}: {result.iteration} iterations; last snapshot {result.last_snapshot}; logs in {result.output_dir}")
    # Stopped by a signal: the shell's 128 + N, so a job scheduler sees the run as terminated, not finished.
    return 128 + result.signal if result.signal else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("train", help="train or finetune (one process, or many with torchrun)")
    p.add_argument("config", help="training config (.toml; see configs/train/ and docs/training.md)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. train.lr=2e-5")
    p.add_argument("--resume", action="store_true", help="continue from the newest snapshot in the output folder")
    p.add_argument("--output", help="output folder (overrides train.output_dir)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_train)
