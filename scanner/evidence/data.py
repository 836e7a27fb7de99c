"""What the pack's charts and tables show, read from history over a window."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from scanner.store.window import finding_moves, open_findings_by_rule


def status_points(scans: list[Any]) -> list[tuple[datetime, dict[str, int]]]:
    return [(s.evaluated_at, dict((s.counts or {}).get("by_status", {}))) for s in scans]


def weekly_flow(
    conn: Connection, scans: list[Any], baseline: int | None
) -> list[tuple[date, int, int]]:
    """(Monday, opened, resolved) per week; the baseline scan's findings are
    what keysentry found on arrival, not openings, and are left out."""
    ids = [s.id for s in scans]
    when = {s.id: s.evaluated_at.date() for s in scans}
    rows = finding_moves(conn, ids)
    weeks: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for scan_id, kind, count in rows:
        day = when[scan_id]
        monday = day - timedelta(days=day.weekday())
        if kind == "resolved":
            weeks[monday][1] += count
        elif scan_id != baseline:
            weeks[monday][0] += count
    for s in scans:  # weeks with a scan but no change still show, as zero
        day = when[s.id]
        weeks.setdefault(day - timedelta(days=day.weekday()), [0, 0])
    return [(monday, o, r) for monday, (o, r) in sorted(weeks.items())]


def deadline_points(
    conn: Connection, scans: list[Any], rules: set[str]
) -> list[tuple[datetime, dict[str, int]]]:
    """Open findings of the deadline RULES at each scan."""
    return [(s.evaluated_at, open_findings_by_rule(conn, s.id, rules)) for s in scans]


def deadlines(document: dict[str, Any] | None) -> list[tuple[date, str, str, list[str]]]:
    if not document:
        return []
    return [
        (date.fromisoformat(e["date"]), e["id"], e["status"], list(e.get("rules", [])))
        for e in document.get("timeline", [])
    ]


def exceptions_in_force(
    scans: list[Any], documents: dict[str | None, dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """Every exception some scan of the window was judged under, once per
    version of it (an entry edited mid-window appears twice), with those scans."""
    found: dict[str, dict[str, Any]] = {}
    for s in scans:
        document = documents.get(s.config_digest) or {}
        for entry in (document.get("exceptions") or {}).get("entries") or []:
            version = json.dumps(entry, sort_keys=True)
            item = found.setdefault(version, entry | {"scans": []})
            item["scans"].append(s.id)
    return sorted(found.values(), key=lambda e: (e["id"], e["scans"][0]))
