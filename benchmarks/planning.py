"""What alert planning costs a scan: the same synthetic organization scanned
offline on two consecutive days into two databases, one without alerts and
one under the demo's alert configuration (scanner/samples/demo-alerts.yaml),
each scan in a fresh process (benchmarks.phases load: run_scan only, no report).

    python -m benchmarks.planning --keys 100000 --projects 5000 --db sqlite

Prints one JSON object: per day, seconds and peak RSS without and with
alerts, and what alerts added (target: at most 20% and 50 MB). With
--alerts-only, the scans with alerts alone (their peak RSS at a million keys
is a target of its own: 1 GB)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.alerts import DEMO_ALERTS
from benchmarks.harness import database, organization_args, phase
from benchmarks.synth import organization, write_export


def main() -> None:
    args = organization_args(
        __doc__.split("\n\n")[0], {"--alerts-only": "skip the scans without alerts"}
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export = work / "org.jsonl"
        write_export(export, organization(args.keys, args.projects, args.seed))
        days = []
        with database(args.db, work) as plain, database(args.db, work) as alerting:
            for day in (0, 1):
                load = ("load", "--export", str(export), "--days", str(day))
                without = None if args.alerts_only else phase(*load, "--db", plain)
                with_alerts = phase(*load, "--db", alerting, "--config", str(DEMO_ALERTS))
                entry = {
                    "day": day,
                    "seconds_with": round(with_alerts["seconds"], 2),
                    "peak_rss_mb_with": round(with_alerts["peak_rss_mb"], 1),
                    "queued": with_alerts["queued"],
                }
                if without is not None:
                    entry |= {
                        "seconds_without": round(without["seconds"], 2),
                        "added_share": round(with_alerts["seconds"] / without["seconds"] - 1, 3),
                        "peak_rss_mb_without": round(without["peak_rss_mb"], 1),
                        "added_rss_mb": round(
                            with_alerts["peak_rss_mb"] - without["peak_rss_mb"], 1
                        ),
                    }
                days.append(entry)
    result = {"keys": args.keys, "projects": args.projects, "db": args.db, "scans": days}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
