"""History benchmark: ten scans of a synthetic organization where each scan
changes one more 1% of the keys, then the auditor commands over them.

    python -m benchmarks.history --keys 100000 --projects 5000 --db sqlite|postgresql

Each scan and each command runs in a fresh process (benchmarks.command), so
every peak RSS is that command's own. Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from benchmarks.harness import command, database
from benchmarks.synth import REFERENCE, organization, write_export


def scan(export: Path, url: str, when: datetime, report: Path) -> dict[str, Any]:
    return command(
        "scan",
        "--from-export",
        str(export),
        "--db",
        url,
        "--now",
        when.isoformat(),
        "--format",
        "json",
        "--output",
        str(report),
    )


def rows_written(url: str) -> dict[int, int]:
    from scanner.store import db
    from scanner.store.tables import Scan

    engine = db.open_engine(url)
    with engine.connect() as conn:
        return {
            row.id: row.rows_written for row in conn.execute(select(Scan.id, Scan.rows_written))
        }


def _round(result: dict[str, Any]) -> dict[str, float]:
    rounded = {
        "seconds": round(result["seconds"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
    }
    if result.get("child_peak_rss_mb"):
        rounded["child_peak_rss_mb"] = round(result["child_peak_rss_mb"], 1)
    return rounded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=5_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scans", type=int, default=10)
    parser.add_argument("--change", type=float, default=0.01)
    args = parser.parse_args()
    results: dict[str, Any] = {"keys": args.keys, "db": args.db, "scans": []}
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        work = Path(tmp)
        export = work / "org.jsonl"
        when = [REFERENCE + timedelta(days=7 * i) for i in range(args.scans)]
        for i in range(args.scans):
            org = organization(args.keys, args.projects, args.seed, args.change, changed_slices=i)
            write_export(export, org)
            ran = scan(export, url, when[i], work / "scan-report.json")
            results["scans"].append(_round(ran))
        # The same organization at the same instant: a repeat scan with no change.
        repeat = scan(export, url, when[args.scans - 1], work / "scan-report.json")
        written = rows_written(url)
        for entry, scan_id in zip(results["scans"], sorted(written), strict=False):
            entry["rows_written"] = written[scan_id]
        results["repeat_scan"] = _round(repeat) | {"rows_written": written[max(written)]}
        since, until = when[0].date().isoformat(), when[-1].date().isoformat()
        middle = when[args.scans // 2].date().isoformat()
        uid = f"{0:08x}-5e17-4000-8000-{0:012x}"  # key 0: changed from the second scan on
        out = str(work / "out")
        commands = {
            "history_key": ["history", "key", uid, "--format", "json", "--output", out],
            "changes": [
                "changes",
                "--since",
                since,
                "--until",
                until,
                "--format",
                "json",
                "--output",
                out,
            ],
            "report_at": ["report", "--at", middle, "--format", "json", "--output", out],
            "stats_remediation": [
                "stats",
                "remediation",
                "--since",
                since,
                "--until",
                until,
                "--by",
                "rule",
                "--format",
                "json",
                "--output",
                out,
            ],
            "evidence": [
                "evidence",
                "--since",
                since,
                "--until",
                until,
                "--output",
                str(work / "pack"),
            ],
            "verify": ["verify"],
        }
        for name, argv in commands.items():
            results[name] = _round(command(*argv, "--db", url))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
