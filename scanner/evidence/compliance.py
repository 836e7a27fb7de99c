"""The compliance view over a window: each CIS control on API keys, passed or
failed at each scan, from the findings and usage history holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scanner.rules.frameworks import CIS_GCP, Framework
from scanner.store.window import keys_failing, keys_without_requests

COMPLIANCE_COLUMNS = ("scan", "evaluated_at", "control", "title", "result", "failing", "accepted")


def compliance_by_scan(
    conn: Connection, scans: list[Any], framework: Framework = CIS_GCP
) -> list[dict[str, Any]]:
    """Per scan, each control: pass, fail or not assessed, with the keys that
    fail it and those an exception accepts."""
    found = []
    for s in scans:
        controls = []
        for c in framework.controls:
            if c.by_usage:
                read, idle = keys_without_requests(conn, s.id)
                result = ("fail" if idle else "pass") if read else "not assessed"
                failing, accepted = idle, 0
            else:
                failing, accepted = keys_failing(conn, s.id, c.rules)
                result = "fail" if failing else "pass"
            controls.append(
                {"id": c.id, "title": c.title, "result": result}
                | {"failing": failing, "accepted": accepted}
            )
        found.append({"scan": s.id, "evaluated_at": s.evaluated_at, "controls": controls})
    return found


def compliance_rows(compliance: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"scan": s["scan"], "evaluated_at": s["evaluated_at"], "control": c["id"]}
        | {k: c[k] for k in ("title", "result", "failing", "accepted")}
        for s in compliance
        for c in s["controls"]
    ]
