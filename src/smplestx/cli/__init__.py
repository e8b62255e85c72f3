"""The ``smplestx`` command line: one module per command (parsing and one-line errors); the work lives in the library.

No library module imports this package.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import SmplestxError

log = logging.getLogger("smplestx")


#: The command modules, in the order `smplestx --help` lists them.
_COMMANDS = ("infer", "export", "overlay", "view", "demo", "eval", "train", "models", "checkpoints", "export_onnx",
             "merge", "synthetic", "doctor")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = _Parser(prog="smplestx", description="SMPLest-X whole-body human pose and shape estimation")
    parser.add_argument("--version", action="version", version=f"smplestx {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details; print a traceback with any error")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    return parser


class _DefaultsHelp(argparse.HelpFormatter):
    """``--help`` states every default (as ArgumentDefaultsHelpFormatter), unless the text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        # None and False mean "not given" (no value to state); identity checks, so 0 still shows.
        if d is None or d is False or d is argparse.SUPPRESS or (isinstance(d, list) and not d):
            return text
        if "default" in text.lower():
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump): ``smplestx: error: infer: argument --x: ...``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _DefaultsHelp)  # subcommands' parsers are _Parser too
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"smplestx: error: {self.prog.removeprefix('smplestx').strip() or 'smplestx'}: {message}\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM (schedulers, containers, `timeout`), handled like Ctrl-C: finished outputs stay, partial ones go."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smplestx`` command."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a one-line usage error
        return int(exc.code or 0)
    fmt = "%(levelname)s %(name)s: %(message)s" if args.verbose else "smplestx: %(message)s"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format=fmt)
    for library in ("huggingface_hub", "transformers"):
        # They print through a handler of their own; propagating too would print every line twice.
        logging.getLogger(library).propagate = False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except Terminated:
        print("smplestx: terminated (SIGTERM); finished outputs are complete, a rerun resumes", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("smplestx: interrupted", file=sys.stderr)
        return 130
    except (SmplestxError, OSError) as exc:
        # A user-caused error (bad option, missing or malformed file, full disk) is one line; the
        # traceback only on request, for a bug report.
        if args.verbose:
            traceback.print_exc()
        print(f"smplestx: error: {exc}", file=sys.stderr)
        return 2
    except Exception:
        # Anything else is a bug, not a user mistake: show where it happened.
        traceback.print_exc()
        print("smplestx: internal error (a bug); please report it with the traceback above", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
