"""Print which top-level units of the smplestx package import which, read from the AST (nothing is imported)."""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path


def unit_of(module: str) -> str:
    """Map a dotted module name inside the package to its top-level unit (``pipeline``, ``cli``, ...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(root: Path, path: Path) -> str:
    """Dotted module name of ``path`` relative to the source root."""
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports for type hints only, never run."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the tree except the bodies of ``if TYPE_CHECKING:`` blocks (type-only imports are no edge)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if _is_type_checking(node):
            todo.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def imports_of(root: Path, path: Path, package: str) -> set[str]:
    """Absolute names of the package's modules imported by ``path`` (relative imports resolved)."""
    mod = module_name(root, path)
    is_pkg = path.name == "__init__.py"
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == package)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                target = node.module or ""
            if target.split(".")[0] != package:
                continue
            if target == package:
                # `from smplestx import x`: x may be a submodule (a unit) or a re-exported name.
                found.update(f"{package}.{a.name}" for a in node.names)
            else:
                found.add(target)
    return found


def graph(src: Path, package: str = "smplestx") -> dict[str, set[str]]:
    """Unit -> set of other units it imports."""
    root = src
    pkg_dir = src / package
    units = {p.stem if p.is_file() else p.name for p in pkg_dir.iterdir()
             if (p.suffix == ".py") or (p.is_dir() and (p / "__init__.py").exists())}
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(pkg_dir.rglob("*.py")):
        src_unit = unit_of(module_name(root, path))
        edges.setdefault(src_unit, set())
        for target in imports_of(root, path, package):
            dst = unit_of(target)
            if dst in units and dst != src_unit:
                edges[src_unit].add(dst)
    return dict(edges)


def main(argv: list[str] | None = None) -> int:
    """Print one line per unit: ``unit -> imported units``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("src", nargs="?", default=str(Path(__file__).resolve().parents[1] / "src"),
                    help="source root that holds the smplestx package (default: this checkout's src/)")
    args = ap.parse_args(argv)
    g = graph(Path(args.src))
    for unit in sorted(g):
        print(f"{unit:12s} -> {', '.join(sorted(g[unit])) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
