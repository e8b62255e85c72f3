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


def test_no_family_is_decided_outside_the_table():
    """Outside models/ nobody tells families apart by type or by name: they ask the family table."""
    pattern = re.compile(r"isinstance\([^)]*\b(SMPLerX|SMPLestX|SMPLerXConfig|SMPLerXNet|SMPLestXNet|SMPLestXConfig)\b"
                         r"|==\s*[\"'](smpler_x|smplest_x)[\"']|getattr\([^)]*[\"']family[\"']")
    pkg = ROOT / "src" / "smplestx"
    hits = [f"{p.relative_to(pkg)}:{n}" for p in sorted(pkg.rglob("*.py")) if "models" not in p.relative_to(pkg).parts
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not hits, f"family decided outside the family table (ask smplestx.models): {hits}"


def test_no_library_module_imports_the_cli():
    g = graph(ROOT / "src")
    assert not [u for u, targets in g.items() if "cli" in targets and u not in {"cli", "__main__"}]
