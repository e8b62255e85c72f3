"""The ``smplestx`` command line: argument parsing and one-line errors; the work lives in the library."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__

log = logging.getLogger("smplestx")


def _cmd_convert(args: argparse.Namespace) -> int:
    import time

    from .checkpoint import convert_checkpoint

    start = time.perf_counter()
    cfg = convert_checkpoint(args.input, args.output, config=args.config, dtype=args.dtype)
    e = cfg.encoder
    print(
        f"wrote {args.output} ({args.dtype}; encoder {e.embed_dim}x{e.depth}, {e.num_heads} heads) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _cmd_synthetic_body(args: argparse.Namespace) -> int:
    from .body.synthetic import write_synthetic_body

    folder = write_synthetic_body(args.output, seed=args.seed)
    print(f"wrote a synthetic (license-free) SMPL-X model to {folder}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import json

    from .checkpoint import read_checkpoint, resolve_config

    state, stored = read_checkpoint(args.checkpoint)
    cfg = resolve_config(state, stored, args.config, args.checkpoint)
    n = sum(v.numel() for v in state.values())
    print(json.dumps({"parameters": n, "tensors": len(state), "config": cfg.to_dict()}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="smplestx", description="SMPLest-X whole-body human pose and shape estimation")
    parser.add_argument("--version", action="version", version=f"smplestx {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="convert an official .pth.tar checkpoint to safetensors")
    p.add_argument("input", help="official checkpoint (.pth.tar) or safetensors")
    p.add_argument("output", help="output .safetensors path")
    p.add_argument("--config", help="official config_base.py (read as data); default: inferred from tensor shapes")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32", help="stored weight dtype")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("synthetic-body", help="write a license-free synthetic SMPL-X model folder")
    p.add_argument("output", help="folder to create; the model goes to OUTPUT/smplx/")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.set_defaults(func=_cmd_synthetic_body)

    p = sub.add_parser("info", help="print a checkpoint's size and model config")
    p.add_argument("checkpoint")
    p.add_argument("--config", help="official config_base.py")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smplestx`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("smplestx: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        # Every user-caused error (missing file, bad checkpoint/config) is one line, no traceback.
        print(f"smplestx: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
