"""Import cycles between the project's own files (tests and bench left out), by module-level
and function-level imports alike; each cycle is a strongly connected component of the import
graph (Tarjan's algorithm).

Run as: python tests/import_cycles.py [ROOT]   (prints one cycle per line, exit 1 if any)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("common", "curation", "training", "evaluation", "workbench", "views")


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[Path, set[Path]]:
    """{file: the project files it imports}, paths relative to ``root``; ``from a.b import c``
    counts as importing a/b and, when it is a module, a/b/c."""
    files = [p.relative_to(root) for d in packages for p in sorted((root / d).rglob("*.py"))]
    module_of = {".".join(f.with_suffix("").parts).removesuffix(".__init__"): f for f in files}
    graph: dict[Path, set[Path]] = {}
    for rel in files:
        names: list[str] = []
        for node in ast.walk(ast.parse((root / rel).read_text())):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        graph[rel] = {module_of[n] for n in names if n in module_of and module_of[n] != rel}
    return graph


def cycles(graph: dict[Path, set[Path]]) -> list[list[str]]:
    """Every group of files that import each other (directly or around a loop), sorted."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on_stack: set[Path] = set()
    found: list[list[str]] = []

    def visit(v: Path) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(str(p) for p in group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return sorted(found)


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    found = cycles(import_graph(root))
    for group in found:
        print(" <-> ".join(group))
    sys.exit(1 if found else 0)
