"""Figures of kscribe/'s import graph: files, modules at the package root, imports, cycles, floors.

Files of kscribe/ are the nodes; an import of one by another is an edge (``from kscribe.x import y``
counts as an import of ``kscribe.x.y`` when that is a module, of ``kscribe.x`` otherwise; imports
under ``TYPE_CHECKING`` count too). A file's floor is one above the highest floor it imports, so the
floors are the longest chain of imports. Usage: ``python scripts/import_graph.py [ROOT]``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in (root / "kscribe").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    targets: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("kscribe"):
            module = node.module or ""
            targets += [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        elif isinstance(node, ast.Import):
            targets += [a.name for a in node.names if a.name.startswith("kscribe")]
    edges = set()
    for target in targets:
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in known and target not in (name, "kscribe"):
            edges.add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(10_000)
    for node in edges:
        if node not in index:
            visit(node)
    return found


def floors(edges: dict[str, set[str]], cyclic: list[list[str]]) -> dict[str, int]:
    same = {member: k for k, component in enumerate(cyclic) for member in component}
    floor: dict[str, int] = {}

    def of(node: str) -> int:
        if node not in floor:
            floor[node] = 0  # a cycle's members stand on one floor
            below = [of(o) for o in edges[node] if same.get(o, o) != same.get(node, node)]
            floor[node] = 1 + max(below, default=0)
        return floor[node]

    for node in edges:
        of(node)
    return floor


def main(root: Path) -> None:
    known = modules(root)
    edges = {name: imports(name, path, known) for name, path in known.items()}
    cyclic = cycles(edges)
    floor = floors(edges, cyclic)
    at_root = sorted(n.split(".")[1] for n, p in known.items() if n.count(".") == 1 and p.name != "__init__.py")
    chain = [max(floor, key=lambda n: floor[n])]
    while lower := [o for o in edges[chain[-1]] if floor[o] < floor[chain[-1]]]:
        chain.append(max(lower, key=lambda n: floor[n]))
    print(f"files {len(known)}")
    print(f"modules at the root {len(at_root)}: {' '.join(at_root)}")
    print(f"imports {sum(len(e) for e in edges.values())}")
    print(f"cycles {len(cyclic)} {cyclic}")
    print(f"floors {max(floor.values())}: {' > '.join(chain)}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
