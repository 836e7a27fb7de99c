"""Ticket sync benchmark: `keysentry tickets sync` over a stored scan of a
synthetic organization, against the loopback Jira of the tests
(tests/fakes/tickets.py) in this process.

    python -m benchmarks.tickets --keys 100000 --projects 5000 --db sqlite

The route sends the critical findings, one ticket per key. Each sync runs in
a fresh process (benchmarks.command): seconds and peak RSS; beside them,
`report --format json` over the same scan, the memory any command reading
the scan needs. Prints one JSON object: tickets created, duplicates (tickets
sharing a keysentry id), and the writes a second sync makes with nothing new."""

from __future__ import annotations

import json
import os
from collections import Counter

import yaml

from benchmarks.harness import command, organization_args, stored_scan
from tests.fakes.tickets import FakeJira

RATE = 1000  # calls a second: the fake answers as fast as it can


def main() -> None:
    args = organization_args(__doc__.split("\n\n")[0])
    os.environ |= {"JIRA_USER": "bench@example.com", "JIRA_TOKEN": "bench"}
    with stored_scan(args) as (url, work, _), FakeJira() as jira:
        config = work / "keysentry.yaml"
        tickets = {
            "route": {"routes": [{"match": {"severity": ["critical"]}, "receiver": "sec"}]},
            "receivers": [{"name": "sec", "jira": {"url": jira.url, "project": "SEC"}}],
            "requests_per_second": RATE,
        }
        config.write_text(yaml.safe_dump({"tickets": tickets}))
        common = ["--config", str(config), "--db", url]
        reading = command("report", *common, "--format", "json", "--output", str(work / "r.json"))
        first = command("tickets", "sync", *common)
        writes = len(jira.writes)
        again = command("tickets", "sync", *common)
        repeat_writes = len(jira.writes) - writes
        ids = Counter(
            name for i in jira.issues.values() for name in i.fields["labels"] if name != "keysentry"
        )
    print(
        json.dumps(
            {
                "keys": args.keys,
                "projects": args.projects,
                "db": args.db,
                "rate_per_second": RATE,
                "tickets_created": len(jira.issues),
                "duplicates": sum(n - 1 for n in ids.values()),
                "first_sync_seconds": round(first["seconds"], 2),
                "first_sync_peak_rss_mb": round(first["peak_rss_mb"], 1),
                "report_peak_rss_mb": round(reading["peak_rss_mb"], 1),
                "sync_rss_beyond_report_mb": round(
                    first["peak_rss_mb"] - reading["peak_rss_mb"], 1
                ),
                "repeat_sync_seconds": round(again["seconds"], 2),
                "repeat_sync_writes": repeat_writes,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
