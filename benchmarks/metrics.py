"""Metrics benchmark: series count and scrape time of /metrics over a stored
scan of a synthetic organization.

    python -m benchmarks.metrics --keys 100000 --projects 5000 --db sqlite|postgresql

Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.harness import database, phase
from benchmarks.synth import organization, write_export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=5_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        export = Path(tmp) / "org.jsonl"
        write_export(export, organization(args.keys, args.projects, args.seed))
        loaded = phase("load", "--export", str(export), "--db", url)
        scrapes = phase("metrics", "--db", url)
    print(
        json.dumps(
            {"keys": loaded["keys"], "projects": args.projects, "db": args.db, **scrapes}, indent=2
        )
    )


if __name__ == "__main__":
    main()
