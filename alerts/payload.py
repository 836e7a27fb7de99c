"""The notification document stored in the outbox: everything a channel
needs to render a message, as plain JSON (schema keysentry.notification/v1).
It is also the body of the `generic` webhook format."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote

from alerts.config import AlertsConfig
from alerts.events import Event, FindingFacts, KeyFacts, days_left
from scanner.models import KeyStatus, Severity

SCHEMA = "keysentry.notification/v1"


def key_links(config: AlertsConfig, key: KeyFacts) -> dict[str, str]:
    project = quote(key.project, safe="")
    # The Console's key page is addressed by the key id (the end of the key's
    # name, which its creator may choose), not by the uid.
    key_id = quote(key.name.rsplit("/", 1)[-1], safe="")
    return {
        "console": f"{config.console_url}/apis/credentials/key/{key_id}?project={project}",
        "aistudio": config.aistudio_url,
    }


def finding_document(f: FindingFacts, at: datetime) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity,
        "summary": f.summary,
        "checklist": f.checklist,
        "deadline": f.deadline.isoformat() if f.deadline else None,
        "deadline_kind": f.deadline_kind,
        "timeline_entry": f.timeline_entry,
        "days_left": days_left(f.deadline, at),
        "fingerprint": f.fingerprint,
    }


def key_document(
    config: AlertsConfig, key: KeyFacts, findings: list[FindingFacts], at: datetime
) -> dict[str, Any]:
    ordered = sorted(findings, key=lambda f: (-Severity(f.severity).rank, f.deadline or at.date()))
    return {
        "name": key.name,
        "uid": key.uid,
        "display_name": key.display_name,
        "project": key.project,
        "project_number": key.project_number,
        "key_type": key.key_type,
        "status": key.status,
        "score": key.score,
        "links": key_links(config, key),
        "creator": key.creator,
        "restrictions_removed": (
            {"by": key.restrictions_removed[0], "at": key.restrictions_removed[1].isoformat()}
            if key.restrictions_removed
            else None
        ),
        "findings": [finding_document(f, at) for f in ordered],
    }


def event_document(
    config: AlertsConfig, event: Event, receiver: str, scan_id: int, at: datetime
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": "reminder" if event.kind in ("reminder", "exception_expiring") else "transition",
        "event": event.kind,
        "detail": event.detail,
        "receiver": receiver,
        "scan_id": scan_id,
        "evaluated_at": at.isoformat(),
        "keys": [key_document(config, event.key, [event.finding], at)],
        "omitted_keys": 0,
    }


def event_subject(event: Event) -> str:
    f, key = event.finding, event.key
    about = f"{f.rule} on key {key.display_name or key.uid} in {key.project}"
    if event.kind == "reminder":
        when = f"due {f.deadline}" if f.deadline else "no deadline"
        return f"[keysentry] {event.detail} ({when}): {about}"
    if event.kind == "exception_expiring":
        return f"[keysentry] {event.detail.split(':')[0]}: {about}"
    if event.kind == "resolved":
        return f"[keysentry] resolved: {about}"
    if event.kind == "escalated":
        return f"[keysentry] escalated, {event.detail}: {about}"
    return f"[keysentry] {f.severity}: {about}"


def digest_document(
    config: AlertsConfig,
    receiver: str,
    keys: dict[str, tuple[KeyFacts, list[FindingFacts]]],
    scan_id: int,
    at: datetime,
    limit: int,
) -> dict[str, Any]:
    def order(item: tuple[KeyFacts, list[FindingFacts]]) -> tuple[int, str, int, str]:
        key, findings = item
        nearest = min((f.deadline for f in findings if f.deadline), default=None)
        return (KeyStatus(key.status).rank, str(nearest or "9999"), -key.score, key.name)

    ordered = sorted(keys.values(), key=order)
    return {
        "schema": SCHEMA,
        "kind": "digest",
        "event": "digest",
        "detail": f"{len(ordered)} keys need action",
        "receiver": receiver,
        "scan_id": scan_id,
        "evaluated_at": at.isoformat(),
        "counts": {
            status: n
            for status, n in sorted(
                Counter(k.status for k, _ in ordered).items(), key=lambda i: KeyStatus(i[0]).rank
            )
        },
        "keys": [key_document(config, k, fs, at) for k, fs in ordered[:limit]],
        "omitted_keys": max(0, len(ordered) - limit),
    }


def digest_subject(document: dict[str, Any]) -> str:
    counts = document["counts"]
    parts = [
        f"{counts[s.value]} {s.value.replace('_', '-')}" for s in KeyStatus if s.value in counts
    ]
    total = sum(counts.values())
    return f"[keysentry] {total} of your API keys need action: {', '.join(parts)}"
