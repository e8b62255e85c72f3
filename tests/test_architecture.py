"""docs/architecture.md is kept true: its import graph is the source's, and its layout names every unit."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from import_graph import graph  # noqa: E402

DOC = ROOT / "docs" / "architecture.md"


def _documented_graph() -> dict[str, set[str]]:
    """The ``unit -> units`` block under the doc's "Import graph" heading."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Import graph", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert block, "docs/architecture.md: no code block under '## Import graph'"
    edges: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        unit, _, targets = line.partition("->")
        edges[unit.strip()] = set() if targets.strip() == "-" else {t.strip() for t in targets.split(",")}
    return edges


def test_documented_import_graph_is_the_source_graph():
    actual = graph(ROOT / "src")
    documented = _documented_graph()
    fix = "regenerate it with `python tools/import_graph.py` and explain what changed"
    assert documented == actual, f"docs/architecture.md's import graph is stale; {fix}"


def test_layout_names_every_unit():
    layout = DOC.read_text(encoding="utf-8").split("## Import graph", 1)[0]
    units = {p.stem if p.is_file() else p.name for p in (ROOT / "src" / "smplestx").iterdir()
             if (p.suffix == ".py" and p.stem not in {"__init__", "__main__"}) or (p / "__init__.py").is_file()}
    missing = sorted(u for u in units if not re.search(rf"^\s+{re.escape(u)}(\.py|/)", layout, re.M))
    assert not missing, f"docs/architecture.md's layout does not mention: {missing}"
