"""Report benchmark: seconds and peak RSS of `keysentry report --format json`
over a stored scan of a synthetic organization.

    python -m benchmarks.report --keys 100000 --projects 5000 --db sqlite|postgresql

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
        result = phase("report", "--db", url, "--output", str(Path(tmp) / "report.json"))
    print(
        json.dumps(
            {
                "keys": loaded["keys"],
                "db": args.db,
                "report_seconds": round(result["seconds"], 2),
                "report_megabytes": round(result["bytes"] / 2**20, 1),
                "peak_rss_mb": round(result["peak_rss_mb"], 1),
                "offline_scan_seconds": round(loaded["seconds"], 2),
                "offline_scan_peak_rss_mb": round(loaded["peak_rss_mb"], 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
