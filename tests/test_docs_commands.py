"""The documentation's commands: every shell block runs here or says why not; every documented command and flag exists.

A shell block (```bash, ```sh, ```shell, ```console) in README.md or docs/*.md carries a marker on the line
right above its fence (an HTML comment, invisible on GitHub):

- ``<!-- doc-test: run -->``: :func:`test_run_blocks` runs it in an empty folder, offline, with no user
  config: its ``smplestx`` lines (in process) and ``export NAME=VALUE`` lines; ``pip install`` and
  ``python -m pytest`` lines are what this suite itself stands on and are passed over.
- ``<!-- doc-test: skip, REASON -->``: not run (REASON says why: licensed SMPL-X files or released
  weights, a benchmark's data, a GPU cluster, Blender, minutes of training, a synopsis with [options]).

Either way every ``smplestx`` command in it, and every inline `` `smplestx ...` `` of the prose and
tables, is checked against the real argument parser: the command and each flag must exist, and a
concrete command line (no [ ] | placeholders) must parse.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from smplestx.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^\s*```(\S*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*doc-test:\s*(run|skip)\s*(?:,\s*(.*?))?\s*-->\s*$")
INLINE = re.compile(r"`((?:python -m )?smplestx [^`]+)`")
# What a run block may hold besides smplestx and export lines: the install and the suite itself.
PASSED_OVER = (("pip", "install"), ("python", "-m", "pytest"))


@dataclass(frozen=True)
class Block:
    """One fenced code block."""

    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str | None  # "run", "skip" or None
    reason: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if FENCE.match(lines[j]) and lines[j].strip() == "```")
        mark = MARKER.match(lines[i - 1]) if i else None
        out.append(Block(path, i + 1, m.group(1), "\n".join(lines[i + 1:end]),
                         mark.group(1) if mark else None, (mark.group(2) or "") if mark else ""))
        i = end + 1
    return out


def _prose(path: Path) -> str:
    """The text outside fenced blocks."""
    keep, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            keep.append(line)
    return "\n".join(keep)


ALL_BLOCKS = [b for p in DOCS for b in _blocks(p)]
SHELL_BLOCKS = [b for b in ALL_BLOCKS if b.lang in SHELL]
RUN_BLOCKS = [b for b in SHELL_BLOCKS if b.marker == "run"]


def _command_lines(text: str) -> list[str]:
    """Logical lines: backslash continuations joined, blank lines and whole-line comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def _smplestx_argv(tokens: list[str]) -> list[str] | None:
    """The arguments after `smplestx` / `-m smplestx` in a command's tokens, up to a shell operator."""
    for i, tok in enumerate(tokens):
        if tok == "smplestx" or (tok == "-m" and tokens[i + 1:i + 2] == ["smplestx"]):
            argv = tokens[i + (1 if tok == "smplestx" else 2):]
            stop = next((k for k, t in enumerate(argv) if t in {"|", "||", "&&", ";", ">", ">>", "2>&1"}), len(argv))
            return argv[:stop]
    return None


def _documented_commands() -> list[tuple[str, list[str], bool]]:
    """(where, argv, whole) for every smplestx command of the shell blocks (whole command lines) and of inline
    code in prose and tables (fragments: only their command and flags are checked)."""
    found = []
    for block in SHELL_BLOCKS:
        for line in _command_lines(block.text):
            argv = _smplestx_argv(shlex.split(line, comments=True)) if "smplestx" in line else None
            if argv is not None:
                found.append((f"{block}: {line}", argv, True))
    for path in DOCS:
        for span in INLINE.findall(_prose(path)):
            span = span.replace("\\|", "|")
            try:
                tokens = shlex.split(span)
            except ValueError:
                tokens = span.split()
            argv = _smplestx_argv(tokens)
            if argv:
                found.append((f"{path.relative_to(ROOT)}: `{span}`", argv, False))
    return found


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _problems(argv: list[str], whole: bool = True) -> list[str]:
    """What in a documented command does not exist (or, for a whole concrete command line, does not parse)."""
    parser = build_parser()
    subs = _subparsers(parser)
    top = {s for a in parser._actions for s in a.option_strings}
    tokens = [t.strip("[]") for t in argv]
    i = 0
    problems = []
    while i < len(tokens) and tokens[i].startswith("-"):
        if tokens[i] not in top:
            problems.append(f"no option {tokens[i]}")
        i += 1
    if i == len(tokens):
        return problems
    if tokens[i] not in subs:
        return problems + [f"no command {tokens[i]!r}"]
    sub = subs[tokens[i]]
    known = {s for a in sub._actions for s in a.option_strings}
    for tok in tokens[i + 1:]:
        flag = tok.split("=", 1)[0]
        if flag.startswith("-") and len(flag) > 1 and not flag[1].isdigit() and flag not in known:
            problems.append(f"{tokens[i]} has no option {flag}")
    placeholders = any(c in tok for tok in argv for c in "[]|") or "..." in argv
    if whole and not problems and not placeholders:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                parser.parse_args(argv)
            except SystemExit as exc:
                if exc.code:
                    problems.append(f"does not parse: {err.getvalue().strip()}")
    return problems


def test_every_shell_block_runs_or_says_why_not():
    untagged = [str(b) for b in ALL_BLOCKS if not b.lang]
    assert not untagged, f"code blocks without a language (bash, text, python, ...): {untagged}"
    unmarked = [str(b) for b in SHELL_BLOCKS if b.marker is None]
    assert not unmarked, f"shell blocks without a <!-- doc-test: run --> / <!-- doc-test: skip, REASON --> line: {unmarked}"
    no_reason = [str(b) for b in SHELL_BLOCKS if b.marker == "skip" and len(b.reason) < 8]
    assert not no_reason, f"skipped shell blocks must say why: {no_reason}"
    assert RUN_BLOCKS, "no documented block runs"


def test_documented_commands_and_flags_exist():
    commands = _documented_commands()
    assert len(commands) > 40  # the parse above found the docs' commands
    wrong = [f"{where}: {'; '.join(p)}" for where, argv, whole in commands if (p := _problems(argv, whole))]
    assert not wrong, "\n".join(wrong)


def test_the_checker_catches_a_missing_flag_and_command():
    assert _problems(["infer", "x.jpg", "--no-such-flag"]) == ["infer has no option --no-such-flag"]
    assert _problems(["frobnicate"]) == ["no command 'frobnicate'"]
    assert _problems(["infer", "x.jpg", "--batch-size", "0"])[0].startswith("does not parse")
    assert _problems(["eval", "[--batch-size", "16]", "[--mode", "corrected|reference]"]) == []


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN_BLOCKS, ids=str)
def test_run_blocks(block, tmp_path, monkeypatch, capsys):
    for key in [k for k in os.environ if k.startswith("SMPLESTX_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a documented no-network block must not need one
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    ran = 0
    for line in _command_lines(block.text):
        tokens = [os.path.expanduser(os.path.expandvars(t)) for t in shlex.split(line, comments=True)]
        if not tokens or tuple(tokens[:3]) in PASSED_OVER or tuple(tokens[:2]) in PASSED_OVER:
            continue
        if tokens[0] == "export":
            name, _, value = tokens[1].partition("=")
            monkeypatch.setenv(name, value)
        elif tokens[0] == "smplestx":
            code = main(tokens[1:])
            assert code == 0, f"{block}: `{line}` exited {code}:\n{capsys.readouterr().err}"
            ran += 1
        else:
            raise AssertionError(f"{block}: `{line}` cannot run here; mark the block <!-- doc-test: skip, REASON -->")
    assert ran, f"{block} is marked run but has no smplestx command"
