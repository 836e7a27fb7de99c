"""How many messages a synthetic organization's scans queue, per receiver:
the first scan (the baseline) and a second one a day later, under the demo's
alert configuration (scanner/samples/demo-alerts.yaml), each scan in a fresh
process. Also the largest message per channel, rendered as sent.

    python -m benchmarks.alerts --keys 100000 --projects 5000 --db sqlite

Prints one JSON object."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select

from benchmarks.harness import command, database
from benchmarks.synth import REFERENCE, organization, write_export
from scanner.alerts.content.message import build_message
from scanner.alerts.content.render import EmailRenderer
from scanner.alerts.content.webhook_formats import webhook_body
from scanner.configfile import load_config
from scanner.store.tables import Notification

DEMO_ALERTS = Path(__file__).parent.parent / "scanner" / "samples" / "demo-alerts.yaml"


def counts(url: str) -> dict[str, Any]:
    """Per scan: messages by receiver and kind, the recipients, and per
    channel the largest message in bytes."""
    config = load_config(DEMO_ALERTS).alerts
    formats = {(r.name, w.name): w.format for r in config.receivers for w in r.webhooks}
    renderer = EmailRenderer()
    engine = create_engine(url)
    per_scan: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"by_receiver": Counter(), "recipients": defaultdict(set), "largest": {}}
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Notification.scan_id,
                Notification.receiver,
                Notification.kind,
                Notification.channel,
                Notification.target,
                Notification.subject,
                Notification.payload,
            )
        )
        for scan_id, receiver, kind, channel, target, subject, payload in rows:
            scan = per_scan[scan_id]
            scan["by_receiver"][f"{receiver} {kind}"] += 1
            scan["recipients"][receiver].add(target)
            if channel == "email":
                rendered = renderer.render(subject, payload)
                size = len(build_message(config.smtp, target, rendered, "x", True).as_bytes())
                label = "email"
            else:
                label = formats.get((receiver, target), "generic")
                size = len(webhook_body(label, payload, subject, "x"))
            scan["largest"][label] = max(scan["largest"].get(label, 0), size)
    engine.dispose()
    return {
        str(scan_id): {
            "messages": sum(s["by_receiver"].values()),
            "by_receiver_and_kind": dict(sorted(s["by_receiver"].items())),
            "recipients": {r: len(t) for r, t in sorted(s["recipients"].items())},
            "largest_bytes": dict(sorted(s["largest"].items())),
        }
        for scan_id, s in sorted(per_scan.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=5_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export = work / "org.jsonl"
        write_export(export, organization(args.keys, args.projects))
        with database(args.db, work) as url:
            timings = []
            for day in (0, 1):
                ran = command(
                    "scan",
                    *("--from-export", str(export), "--db", url, "--config", str(DEMO_ALERTS)),
                    *("--now", (REFERENCE + timedelta(days=day)).isoformat()),
                    *("--format", "json", "--output", str(work / "report.json")),
                )
                timings.append(ran)
            result = {"keys": args.keys, "projects": args.projects, "db": args.db}
            result |= {"scans": counts(url), "scan_seconds": [t["seconds"] for t in timings]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
