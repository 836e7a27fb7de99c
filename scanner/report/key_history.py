"""Everything history holds about one key, found by full name or uid: its
versions and what changed in each, its findings as intervals with the
reason each closed, its transitions, audit events and leak reports, and
its status over time. A key that left the inventory stays here."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.core.errors import InputError
from scanner.rules.catalog import ALL_RULES
from scanner.store.fixes import fixes
from scanner.store.history.rows import fingerprint
from scanner.store.key_records import (
    display_names,
    key_events,
    key_leak_reports,
    key_names,
    key_transitions,
    key_uid,
    key_usage_versions,
    key_versions,
    keys_displayed_as,
    last_finding_versions,
    scan_times,
)
from scanner.store.tickets import tickets

# What a version shows of the key; status and score are the verdict.
VERSION_FIELDS = (
    "display_name",
    "project_id",
    "key_type",
    "service_account",
    "api_targets",
    "api_methods",
    "application_restriction",
    "application_values",
    "annotations",
    "gemini_enabled",
    "deleted_at",
    "updated_at",
    "owners",
    "creator",
    "key_admins",
)
USAGE_FIELDS = ("last_used", "requests_7d", "requests_30d", "gemini_rejected_7d", "requests_1d")


@dataclass
class KeyHistory:
    name: str
    uid: str
    project: str
    versions: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    leaks: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    fixes: list[dict[str, Any]] = field(default_factory=list)  # what `fix apply` changed
    tickets: list[dict[str, Any]] = field(default_factory=list)  # its findings' tickets
    status_over_time: list[dict[str, Any]] = field(default_factory=list)
    last_seen_scan: int | None = None
    last_seen_at: datetime | None = None
    in_inventory: bool = True


def find_key_name(conn: Connection, wanted: str) -> str:
    """The full name of the one key WANTED names: its full name, uid, key id
    or display name. Several keys by that display name, or none, is an error
    that lists the candidates or the closest names."""
    names = key_names(conn, wanted)
    if len(names) == 1:
        return names[0]
    if len(names) > 1:
        raise InputError(f"{wanted}: several keys have this uid or key id: {', '.join(names)}")
    shown = keys_displayed_as(conn, wanted)
    if len(shown) == 1:
        return shown[0][0]
    if shown:
        lines = [f"  {name}  (project {project}, uid {uid})" for name, uid, project, _ in shown]
        raise InputError(
            f"{wanted}: {len(shown)} keys have this display name; give the full name or uid "
            "of one:\n" + "\n".join(lines)
        )
    by_lower = {n.lower(): n for n in display_names(conn)}
    close = [n for low, n in by_lower.items() if wanted.lower() in low][:5]
    close += [
        by_lower[n]
        for n in difflib.get_close_matches(wanted.lower(), by_lower, n=5, cutoff=0.5)
        if by_lower[n] not in close
    ][: 5 - len(close)]
    hint = f"; the closest display names: {', '.join(repr(n) for n in close)}" if close else ""
    raise InputError(
        f"{wanted}: no key with this full name, uid, key id or display name in history{hint}"
    )


def _previous_scan(times: dict[int, datetime], scan_id: int) -> int | None:
    earlier = [i for i in times if i < scan_id]
    return max(earlier) if earlier else None


def _versions(conn: Connection, name: str, times: dict[int, datetime]) -> list[dict[str, Any]]:
    versions: list[dict[str, Any]] = []
    before: dict[str, Any] | None = None
    for row in key_versions(conn, name):
        values = {f: getattr(row, f) for f in VERSION_FIELDS}
        changed = [f for f in VERSION_FIELDS if before is not None and before[f] != values[f]]
        versions.append(
            {
                "from_scan": row.valid_from_scan_id,
                "from": times.get(row.valid_from_scan_id),
                "to_scan": row.valid_to_scan_id,
                "status": row.status,
                "score": row.score,
                "changed": changed if before is not None else ["(first seen)"],
                "was": {f: before[f] for f in changed} if before is not None else {},
                **values,
            }
        )
        before = values
    return versions


def _finding_intervals(
    conn: Connection, name: str, transitions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each stretch a finding was open: opened (or reopened) to resolved."""
    latest = last_finding_versions(conn, (fingerprint(m.id, name) for m in ALL_RULES))
    open_since: dict[str, dict[str, Any]] = {}
    intervals: list[dict[str, Any]] = []
    for t in transitions:
        rule = t["rule"]
        if rule is None:
            continue
        if t["kind"] in ("opened", "reopened"):
            open_since[rule] = {
                "rule": rule,
                "opened_scan": t["scan"],
                "opened_at": t["at"],
                "severity": t["to"],
                "resolved_scan": None,
                "resolved_at": None,
                "reason": None,
            }
            intervals.append(open_since[rule])
        elif t["kind"] == "resolved" and rule in open_since:
            interval = open_since.pop(rule)
            interval.update(resolved_scan=t["scan"], resolved_at=t["at"], reason=t["reason"])
    for interval in intervals:
        version = latest.get(interval["rule"])
        if version is not None:
            interval["summary"] = version.summary
            interval["deadline"] = version.deadline
    return intervals


def _usage(conn: Connection, name: str, times: dict[int, datetime]) -> list[dict[str, Any]]:
    rows = key_usage_versions(conn, name, USAGE_FIELDS)
    # "from" second, as the report has always shown it
    return [
        {"from_scan": row["from_scan"], "from": times.get(row["from_scan"])} | row for row in rows
    ]


def _status_over_time(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = []
    for v in versions:
        if spans and spans[-1]["status"] == v["status"] and spans[-1]["to_scan"] == v["from_scan"]:
            spans[-1]["to_scan"] = v["to_scan"]
            continue
        spans.append(
            {"status": v["status"], "from_scan": v["from_scan"], "from": v["from"]}
            | {"to_scan": v["to_scan"]}
        )
    return spans


def key_history(conn: Connection, wanted: str) -> KeyHistory:
    name = find_key_name(conn, wanted)
    times = scan_times(conn)
    versions = _versions(conn, name, times)
    last = versions[-1]
    history = KeyHistory(
        name=name,
        uid=key_uid(conn, name),
        project=last["project_id"] or name.split("/")[1],
        versions=versions,
    )
    history.transitions = key_transitions(conn, name)
    history.findings = _finding_intervals(conn, name, history.transitions)
    history.events = key_events(conn, name)
    by_id = name
    if last["project_id"]:
        parts = name.split("/")
        by_id = "/".join([parts[0], last["project_id"], *parts[2:]])
    history.leaks = key_leak_reports(conn, {name, by_id})
    history.usage = _usage(conn, name, times)
    history.fixes = fixes(conn, key_name=name)
    history.tickets = [
        {
            "receiver": t.receiver,
            "ticket": t.remote_key,
            "url": t.url,
            "state": t.state,
            "declined": t.declined,
        }
        for t in tickets(conn).values()
        if name in t.key_names and t.remote_key
    ]
    history.status_over_time = _status_over_time(versions)
    if last["to_scan"] is not None:
        history.in_inventory = False
        history.last_seen_scan = _previous_scan(times, last["to_scan"])
        history.last_seen_at = times.get(history.last_seen_scan or -1)
    else:
        history.last_seen_scan = max(times) if times else None
        history.last_seen_at = times.get(history.last_seen_scan or -1)
    return history
