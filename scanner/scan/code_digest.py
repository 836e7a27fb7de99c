"""A digest of the code a result follows from: the import closure of the
modules that compute it, read statically (every import in a module, those
inside functions too), with the release and the versions of the third-party
distributions and the Python it imports. A cache keyed by it is redone by an
upgrade that changes any of them, and kept by one that changes none: a fix to
a helper two imports away from a rule judges every key again; a new report
template does not."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from scanner import __version__

# The packages whose modules are followed; any other import is a distribution
# (its version is digested) or the standard library (the Python version is).
FIRST_PARTY = ("scanner",)


def _package_root(name: str) -> Path | None:
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
    else:
        origin = module.__file__
    return Path(origin).parent if origin else None


def _file_of(name: str) -> Path | None:
    """The source file of first-party module NAME, or None (not a module: an
    attribute that `from package import attribute` named)."""
    top, *rest = name.split(".")
    root = _package_root(top)
    if root is None:
        return None
    base = root.joinpath(*rest)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


# A line that may begin an import statement, at any indentation: the only
# lines parsed, so that reading a module's imports costs little of parsing it.
_IMPORT_LINE = re.compile(rb"[ \t]*(?:import|from)[ \t]")


def _import_statements(source: bytes) -> ast.Module:
    """The import statements of SOURCE, dedented, parsed: each from its first
    line to the closing parenthesis its line opens. Any that fails to parse
    alone (a line of a string that reads like an import) falls back to
    parsing the whole module."""
    statements = []
    lines = source.splitlines()
    for start, line in enumerate(lines):
        if not _IMPORT_LINE.match(line):
            continue
        end = start
        if b"(" in line and b")" not in line:
            while end + 1 < len(lines) and b")" not in lines[end]:
                end += 1
        statements.append(b" ".join(part.strip() for part in lines[start : end + 1]))
    try:
        return ast.parse(b"\n".join(statements))
    except SyntaxError:
        return ast.parse(source)


@functools.lru_cache(maxsize=4096)
def module_imports(name: str, path: Path) -> frozenset[str]:
    """Every module name PATH imports, absolute: `from a import b` yields both
    `a` and `a.b`, since b may be a submodule."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(_import_statements(path.read_bytes())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(found)


def import_closure(roots: Iterable[str]) -> tuple[dict[str, Path], frozenset[str]]:
    """The first-party modules ROOTS import, directly or not (with the packages
    that hold them, which Python runs first), by name; and the top-level names
    of everything else they import."""
    modules: dict[str, Path] = {}
    outside: set[str] = set()
    pending = [r for r in roots if r.split(".")[0] in FIRST_PARTY]
    while pending:
        name = pending.pop()
        if name in modules:
            continue
        path = _file_of(name)
        if path is None:
            continue
        modules[name] = path
        parts = name.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        for imported in module_imports(name, path):
            top = imported.split(".")[0]
            if top in FIRST_PARTY:
                pending.append(imported)
            elif top and top != "__future__":
                outside.add(top)
    return modules, frozenset(outside)


@functools.cache
def _providers() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distribution_versions(names: Iterable[str]) -> list[str]:
    """`dist==version` for each installed distribution that provides one of
    NAMES (top-level import names); the standard library provides none."""
    providers = _providers()
    dists = {d for n in names if n not in sys.stdlib_module_names for d in providers.get(n, ())}
    return sorted(f"{d}=={importlib.metadata.version(d)}" for d in dists)


@functools.cache
def code_digest(roots: tuple[str, ...]) -> str:
    """The digest of the import closure of ROOTS (module names). Read once a
    process, so that a long-running worker names the code it runs even after
    the files under it were replaced by an upgrade."""
    modules, outside = import_closure(roots)
    digest = hashlib.blake2b(digest_size=16)
    python = sys.implementation.name, *map(str, sys.version_info[:3])
    for part in (__version__, ".".join(python), *_distribution_versions(outside)):
        digest.update(part.encode() + b"\x00")
    for name in sorted(modules):
        digest.update(name.encode() + b"\x00" + modules[name].read_bytes() + b"\x00")
    return digest.hexdigest()
