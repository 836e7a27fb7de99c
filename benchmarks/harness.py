"""What the benchmarks share: the fake server process, phase processes and
throwaway databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PG_ENV = "KEYSENTRY_BENCH_POSTGRES_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def fake_server(
    keys: int, projects: int, seed: int, changed_fraction: float = 0.0, page_latency: float = 0.0
) -> Iterator[str]:
    """A fake Cloud Asset server in its own process; yields its address."""
    command = [
        sys.executable,
        "-m",
        "tests.fakes.cloud_asset",
        "--keys",
        str(keys),
        "--projects",
        str(projects),
        "--seed",
        str(seed),
        "--changed-fraction",
        str(changed_fraction),
        "--page-latency",
        str(page_latency),
    ]
    with subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stdin is not None
        address = process.stdout.readline().strip()
        if not address:
            raise RuntimeError("the fake Cloud Asset server did not start")
        try:
            yield address
        finally:
            process.stdin.close()
            process.wait(timeout=60)


def fresh(module: str, *args: str, tree: Path = ROOT) -> dict[str, Any]:
    """Run MODULE of TREE's code in a fresh process; the JSON object it printed last."""
    output = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


InputsWriter = Callable[[Path, int, int, int], None]


def writing_inputs(write: InputsWriter) -> bool:
    """When this process was started to write a benchmark's inputs (`--write-inputs
    WORK KEYS PROJECTS SEED`), WRITE them and say so."""
    if sys.argv[1:2] != ["--write-inputs"]:
        return False
    work, keys, projects, seed = sys.argv[2:6]
    write(Path(work), int(keys), int(projects), int(seed))
    return True


def write_inputs_apart(module: str, work: Path, args: Any) -> None:
    """Have MODULE write its inputs for ARGS' organization into WORK in a process
    of its own: a command started from a process that held them would inherit its
    peak RSS."""
    fresh(module, "--write-inputs", str(work), *map(str, (args.keys, args.projects, args.seed)))


def phase(*args: str) -> dict[str, Any]:
    """Run one benchmarks.phases phase in a fresh process; its JSON result."""
    return fresh("benchmarks.phases", *args)


def command(*args: str) -> dict[str, Any]:
    """Run `keysentry ARGS` in a fresh process (benchmarks.command): seconds and
    peak RSS. Exit 0 or 1 (--fail-on met) is a run; anything else fails."""
    result = fresh("benchmarks.command", *args)
    if result["exit"] not in (0, 1):
        raise RuntimeError(f"keysentry {' '.join(args)} exited {result['exit']}")
    return result


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A new empty database of KIND (sqlite|postgresql), removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    from scanner.store.db import resolve_url

    base = make_url(resolve_url(os.environ.get(PG_ENV) or PG_DEFAULT, None))
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"keysentry_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def organization_args(
    description: str,
    flags: dict[str, str] | None = None,
    values: dict[str, float] | None = None,
) -> Any:
    """The options every stored-scan benchmark takes, FLAGS (--name: help) and
    VALUES (--name: default, of the default's type), parsed."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    for flag, text in (flags or {}).items():
        parser.add_argument(flag, action="store_true", help=text)
    for option, default in (values or {}).items():
        parser.add_argument(option, type=type(default), default=default)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=5_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


@contextmanager
def stored_scan(args: Any) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """A database holding an offline scan of the synthetic organization ARGS
    describe: (its URL, a scratch directory, the load phase's result)."""
    import tempfile

    from benchmarks.synth import organization, write_export

    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        export = Path(tmp) / "org.jsonl"
        iam = bool(getattr(args, "iam", False))
        write_export(export, organization(args.keys, args.projects, args.seed, iam=iam))
        yield url, Path(tmp), phase("load", "--export", str(export), "--db", url)
