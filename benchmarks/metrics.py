"""Metrics benchmark: series count and scrape time of /metrics over a stored
scan of a synthetic organization.

    python -m benchmarks.metrics --keys 100000 --projects 5000 --db sqlite|postgresql

Prints one JSON object."""

from __future__ import annotations

import json

from benchmarks.harness import organization_args, phase, stored_scan


def main() -> None:
    args = organization_args(__doc__.split("\n\n")[0])
    with stored_scan(args) as (url, _, loaded):
        scrapes = phase("metrics", "--db", url)
    result = {"keys": loaded["keys"], "projects": args.projects, "db": args.db, **scrapes}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
