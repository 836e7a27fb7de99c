"""The figures of each succeeded scan, stored with it: what the scan counted
(scan.figures_tally) and its flow, which is the previous scan's flow plus
what this scan's transitions add. A cold scrape reads one row; scans
recorded before this table existed are read from history instead
(store.aggregates.read_figures)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select

from scanner.store.aggregates import (
    OTHER_PROJECTS,
    ScanFigures,
    TopKey,
    capped,
    exception_figures,
)
from scanner.store.flow import Flow, Remediated, read_flow
from scanner.store.tables import FigureRow, Scan

VERSION = 1


def record_figures(
    conn: Connection, scan_id: int, counted: dict[str, Any], previous: Scan | None
) -> None:
    """Store SCAN_ID's figures (COUNTED while it judged: scan.figures_tally)
    in its transaction, once its history and key events are written.
    PREVIOUS is the last succeeded scan before it."""
    flow = None
    if previous is not None:
        stored = conn.scalar(select(FigureRow.document).where(FigureRow.scan_id == previous.id))
        if stored is not None and stored.get("version") == VERSION:
            flow = flow_of(stored["flow"]).plus(read_flow(conn, scan_id, only_this_scan=True))
    if flow is None:  # the first scan, or the first since an upgrade: from all of history
        flow = read_flow(conn, scan_id)
    document = counted | {"flow": flow_document(flow)}
    conn.execute(insert(FigureRow).values(scan_id=scan_id, document=document))


def stored_figures(
    conn: Connection, scan_id: int, top_keys: int, max_projects: int
) -> ScanFigures | None:
    """SCAN_ID's stored figures, or None when it has none (or keeps fewer top
    keys than TOP_KEYS asks for)."""
    document = conn.scalar(select(FigureRow.document).where(FigureRow.scan_id == scan_id))
    if document is None or document.get("version") != VERSION:
        return None
    if top_keys > document["top_keys_kept"]:
        return None
    scan = conn.execute(
        select(Scan.evaluated_at, Scan.config_digest, Scan.counts).where(Scan.id == scan_id)
    ).one()
    per_project: dict[str, dict[str, int]] = {}
    for project, status, n in document["projects"]:
        per_project.setdefault(project, {})[status] = n
    shown = capped(per_project, max_projects)
    named = {name for name, _ in shown} - {OTHER_PROJECTS}
    project_due: Counter[tuple[str, str]] = Counter()
    if named:
        for project, bucket, n in document["project_due"]:
            project_due[(project if project in named else OTHER_PROJECTS, bucket)] += n
    return ScanFigures(
        scan_id=scan_id,
        keys=_pairs(document["keys"]),
        projects=shown,
        projects_with_keys=document["projects_with_keys"],
        evaluated_on=scan.evaluated_at.date(),
        findings=_pairs(document["findings"]),
        accepted=_pairs(document["accepted"]),
        exceptions=exception_figures(conn, scan_id, scan.config_digest),
        coverage=dict((scan.counts or {}).get("coverage") or {}),
        due=Counter(_pairs(document["due"])),
        project_due=project_due,
        flow=flow_of(document["flow"]),
        deadline_keys=dict(document["deadline_keys"]),
        top_keys=[
            TopKey(name, project, display, status, key_type, score, _day(day))
            for name, project, display, status, key_type, score, day in document["top_keys"][
                :top_keys
            ]
        ],
    )


def _pairs(rows: list[list[Any]]) -> dict[tuple[str, str], int]:
    return {(a, b): n for a, b, n in rows}


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def flow_document(flow: Flow) -> dict[str, Any]:
    return {
        "opened": dict(flow.opened),
        "resolved": [[rule, reason, n] for (rule, reason), n in sorted(flow.resolved.items())],
        "newly_blocked": dict(flow.newly_blocked),
        "restrictions_removed": flow.restrictions_removed,
        "remediation": {
            rule: {"counts": times.counts, "seconds": times.seconds}
            for rule, times in sorted(flow.remediation.items())
        },
    }


def flow_of(document: dict[str, Any]) -> Flow:
    return Flow(
        Counter(document["opened"]),
        Counter({(rule, reason): n for rule, reason, n in document["resolved"]}),
        Counter(document["newly_blocked"]),
        int(document["restrictions_removed"]),
        {
            rule: Remediated(list(times["counts"]), float(times["seconds"]))
            for rule, times in document["remediation"].items()
        },
    )
