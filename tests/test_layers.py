"""The layout's promises, checked on the source: no import cycle between
modules, folders or the packages of scanner, and SQL only in the store
folders (scanner/store, scanner/alerts/store)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.import_cycles import ROOT, cycles, folder_graph, module_graph

# Outside the store a module may hold a connection or an engine and catch the
# database's errors; a table, a statement or a session is the store's.
HANDLES = {
    "sqlalchemy": {"Connection", "Engine"},
    "sqlalchemy.exc": {"SQLAlchemyError", "ArgumentError"},
    "sqlalchemy.engine": {"make_url"},  # config check of database_url
}
# A scan's row is the record handed from the store to the scan's stages.
RECORDS = {"Scan"}


def _in_store(path: Path) -> bool:
    return "store" in path.relative_to(ROOT).parts


def _imports(path: Path) -> list[tuple[str, set[str], int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, {a.name for a in node.names}, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, set(), node.lineno) for a in node.names]
    return found


def test_no_import_cycle_between_modules_or_folders() -> None:
    graph = module_graph()
    assert cycles(graph) == []
    assert cycles(folder_graph(graph)) == []


def test_no_cycle_between_the_packages_of_scanner() -> None:
    """scanner.alerts, scanner.store, ... each taken whole, subfolders and all."""
    graph = module_graph()

    def package(name: str) -> str:
        return ".".join(name.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for name, targets in graph.items():
        mine = package(name)
        packages.setdefault(mine, set()).update(package(t) for t in targets)
        packages[mine].discard(mine)
    assert "scanner.alerts" in packages and "scanner.store" in packages["scanner.alerts"]
    assert cycles(packages) == []


def _sql_imports(path: Path, shown: str) -> list[str]:
    """What PATH imports of the database beyond its handles."""
    wrong = []
    for module, names, line in _imports(path):
        where = f"{shown}:{line}"
        if module == "sqlalchemy" or module.startswith("sqlalchemy."):
            if not names or not names <= HANDLES.get(module, set()):
                wrong.append(f"{where} imports {sorted(names) or module}")
        elif module == "scanner.store.tables" and not names <= RECORDS:
            wrong.append(f"{where} imports tables {sorted(names - RECORDS)}")
        elif module == "scanner.store" and "tables" in names:
            wrong.append(f"{where} imports the tables module")
    return wrong


def test_sql_stays_in_the_store() -> None:
    wrong = []
    for path in sorted((ROOT / "scanner").rglob("*.py")):
        if not _in_store(path):
            wrong += _sql_imports(path, str(path.relative_to(ROOT)))
    assert wrong == []


def test_the_store_check_sees_statements_and_tables(tmp_path: Path) -> None:
    module = tmp_path / "reader.py"
    module.write_text(
        "from sqlalchemy import Connection, select\n"
        "import sqlalchemy\n"
        "from scanner.store.tables import KeyVersion, Scan\n"
        "from scanner.store import tables\n"
        "from sqlalchemy.exc import SQLAlchemyError\n"
    )
    assert _sql_imports(module, "reader.py") == [
        "reader.py:1 imports ['Connection', 'select']",
        "reader.py:2 imports sqlalchemy",
        "reader.py:3 imports tables ['KeyVersion']",
        "reader.py:4 imports the tables module",
    ]
