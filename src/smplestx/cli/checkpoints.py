"""`smplestx convert` and `smplestx info`: checkpoint files."""

from __future__ import annotations

import argparse



def _cmd_convert(args: argparse.Namespace) -> int:
    import time

    from ..models import family_of_config
    from ..models.checkpoint import convert_checkpoint

    start = time.perf_counter()
    cfg = convert_checkpoint(args.input, args.output, config=args.config, dtype=args.dtype)
    e = cfg.encoder
    family = family_of_config(cfg).name
    print(
        f"wrote {args.output} ({family}, {args.dtype}; encoder {e.embed_dim}x{e.depth}, {e.num_heads} heads) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import json

    from ..models.checkpoint import checkpoint_family, read_checkpoint, resolve_config
    from ..models.zoo import resolve_model

    model = resolve_model(args.checkpoint, args.config)  # a model name works too (downloaded once)
    state, stored = read_checkpoint(model.checkpoint)
    cfg = resolve_config(state, stored, model.config, str(model.checkpoint))
    n = sum(v.numel() for v in state.values())
    info = {"family": checkpoint_family(state), "parameters": n, "tensors": len(state), "config": cfg.to_dict()}
    print(json.dumps(info, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the parser."""
    p = sub.add_parser("convert", help="convert an official .pth.tar checkpoint to safetensors")
    p.add_argument("input", help="official checkpoint (.pth.tar) or safetensors")
    p.add_argument("output", help="output .safetensors path")
    p.add_argument("--config", help="official config of either family (read as data); default: inferred from tensor shapes")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32", help="stored weight dtype")
    p.set_defaults(func=_cmd_convert)
    p = sub.add_parser("info", help="print a checkpoint's size and model config")
    p.add_argument("checkpoint", help="a checkpoint file or a model name (see `smplestx models`)")
    p.add_argument("--config", help="official config of either family (read as data)")
    p.set_defaults(func=_cmd_info)
