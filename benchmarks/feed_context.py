"""Feed context benchmark: what a feed message about something other than a
key costs, over a stored scan of the synthetic organization with IAM (an
owner on each project, the organization's policy). Each message is applied
as the worker applies a batch (scanner.feed.apply, alerts planned), in this
process:

    python -m benchmarks.feed_context --keys 100000 --projects 5000 --db sqlite

1. A project's owner replaced: its keys judged again.
2. Gemini enabled on a project that had it off: its keys judged again.
3. The organization's IAM policy changed: every key judged again.

For each: seconds from the start of apply_changes to its commit, keys
judged, rows written, notifications queued. Then the process's peak RSS.
Prints one JSON object."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from benchmarks.harness import organization_args, stored_scan
from benchmarks.phases import peak_rss_mb
from benchmarks.synth import GEMINI, ORG, REFERENCE, project_number
from scanner.alerts.plan.planner import FEED_STAGES, scan_hook
from scanner.configfile import parse_config
from scanner.feed.apply import apply_changes
from scanner.feed.messages import Change, parse
from scanner.store import db
from tests.assets import iam_policy

CONFIG = parse_config(
    """
alerts:
  route: {receiver: security}
  receivers:
    - {name: security, webhooks: [{name: out, url: "http://127.0.0.1:9/none", format: generic}]}
""",
    "benchmark",
)


def message(envelope: dict[str, Any], at: str) -> Change:
    """ENVELOPE (an export line) as a feed message says it changed at AT."""
    asset = {key: value for key, value in envelope.items() if key != "asset_type"}
    asset["assetType"] = envelope["asset_type"]
    asset["updateTime"] = at
    body = {"asset": asset, "priorAssetState": "PRESENT", "window": {"startTime": at}}
    found = parse(json.dumps(body).encode(), "benchmark message")
    assert isinstance(found, Change), found
    return found


def gemini_on(index: int, at: str) -> Change:
    number = project_number(index)
    data = {"name": f"projects/{number}/services/{GEMINI}", "parent": f"projects/{number}",
            "state": "ENABLED"}  # fmt: skip
    envelope = {
        "name": f"//serviceusage.googleapis.com/projects/{number}/services/{GEMINI}",
        "asset_type": "serviceusage.googleapis.com/Service",
        "resource": {"version": "v1", "discoveryName": "Service", "data": data},
        "ancestors": [f"projects/{number}", ORG],
    }
    return message(envelope, at)


def main() -> None:
    args = organization_args(__doc__.split("\n\n")[0])
    args.iam = True
    result: dict[str, Any] = {"keys": args.keys, "projects": args.projects, "db": args.db}
    with stored_scan(args) as (url, _, loaded):
        result["load_seconds"] = round(loaded["seconds"], 1)
        engine = db.open_engine(url)
        plan = scan_hook(CONFIG.alerts, stages=FEED_STAGES)
        new_owner = {"roles/owner": ["user:new@example.com"]}
        owner = iam_policy(f"projects/{project_number(2)}", new_owner, ORG)
        # Odd projects have Gemini off (benchmarks.synth).
        changes = {
            "project_owner_replaced": message(owner, "2026-11-21T10:00:00Z"),
            "gemini_enabled_on_a_project": gemini_on(3, "2026-11-21T10:01:00Z"),
            "organization_policy_changed": message(
                iam_policy(ORG, {"roles/owner": ["group:platform@example.com"]}, ORG),
                "2026-11-21T10:02:00Z",
            ),
        }
        for n, (what, change) in enumerate(changes.items()):
            at = REFERENCE + timedelta(hours=1, minutes=n)
            started = time.perf_counter()
            outcome = apply_changes(engine, CONFIG, [change], at, "benchmark", plan)
            seconds = time.perf_counter() - started
            stats = outcome.stats
            assert stats is not None, outcome.outcomes
            result[what] = {
                "seconds": round(seconds, 2),
                "keys_judged": stats.keys_total,
                "rows_written": stats.rows_written,
                "queued": (stats.alerts or {}).get("queued", {}),
            }
        engine.dispose()
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
