"""Import cycles among keysentry's own modules, and among its folders:
`python -m tests.import_cycles` prints each and exits 1 when there is one.
Every import counts, those inside functions and under TYPE_CHECKING too: a
cycle hidden in a function is still two modules that cannot be read apart."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from scanner.scan.code_digest import FIRST_PARTY, module_imports

ROOT = Path(__file__).parent.parent


def modules() -> dict[str, Path]:
    found = {}
    for package in FIRST_PARTY:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:  # run by alembic, imported by nothing
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def module_graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports (a `from package import
    name` that names no module counts as the package)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = set()
        for imported in module_imports(name, path):
            target = imported
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def folder_of(name: str, graph: dict[str, set[str]]) -> str:
    """The folder a module lives in: a package is its own folder."""
    is_package = any(other.startswith(name + ".") for other in graph)
    return name if is_package else name.rpartition(".")[0] or name


def folder_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for name, edges in graph.items():
        mine = folder_of(name, graph)
        targets = {folder_of(e, graph) for e in edges} - {mine}
        # A package's __init__ importing its own children is the folder itself.
        folders.setdefault(mine, set()).update(t for t in targets if not t.startswith(mine + "."))
    return folders


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def report(kind: str, found: Iterable[list[str]]) -> int:
    count = 0
    for component in found:
        count += 1
        print(f"{kind} cycle: {' <-> '.join(component)}")
    return count


def main() -> int:
    graph = module_graph()
    count = report("module", cycles(graph)) + report("folder", cycles(folder_graph(graph)))
    if count == 0:
        print(f"no import cycle among {len(graph)} modules")
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
