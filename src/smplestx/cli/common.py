"""What the commands share: checked number types and the --model / --checkpoint pair."""

from __future__ import annotations

import argparse
import math


def _number(kind: type, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False):
    """An argparse type: a finite ``kind`` within [lo, hi] (lo excluded when ``lo_open``), else a one-line error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if lo is not None and (value <= lo if lo_open else value < lo):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if lo_open else '>='} {lo:g}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"{text} must be <= {hi:g}")
        return value

    return parse


_POSITIVE_INT = _number(int, 1)
_SECONDS = _number(float, 0.0)
_FRACTION = _number(float, 0.0, 1.0)


def _add_model_args(p: argparse.ArgumentParser, default_note: str) -> None:
    """--model NAME and --checkpoint FILE: two spellings of one choice."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", help=f"model name, downloaded on first use (see `smplestx models`; {default_note})")
    g.add_argument("--checkpoint", help="official .pth.tar or converted .safetensors (a model name works too)")


def _model_arg(args: argparse.Namespace) -> str:
    """The model name or checkpoint path given on the command line, else the default model."""
    from ..models.zoo import DEFAULT_MODEL

    return args.model or args.checkpoint or DEFAULT_MODEL
