"""The notification document stored in the outbox: everything a channel
needs to render a message, as plain JSON (schema keysentry.notification/v2).
It is also the body of the `generic` webhook format. Version 2 adds, per key,
its owners, whether it is in use, its worst problem and due date, the events
of its findings and its checklists merged; per message, why the recipient
gets it, links and a contact. Templates still render version 1 documents
queued before an upgrade."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from scanner.alerts.content.actions import exception_request, history_command
from scanner.alerts.content.digest_content import Content, urgency_order
from scanner.alerts.content.steps import merged_checklists
from scanner.alerts.content.why import why_for
from scanner.alerts.content.wording import deadline_phrase, human_time, plural, usage_phrase
from scanner.alerts.facts import Event, FindingFacts, KeyFacts, days_left
from scanner.config.alerts import AlertsConfig
from scanner.core.models import KeyStatus, Severity
from scanner.rules.catalog import ALL_RULES

SCHEMA = "keysentry.notification/v2"
TITLES = {meta.id: meta.title for meta in ALL_RULES}
_EVENT_RANK = {"escalated": 0, "opened": 1, "exception_expiring": 2, "reminder": 3, "resolved": 4}


def key_links(config: AlertsConfig, key: KeyFacts) -> dict[str, str]:
    project = quote(key.project, safe="")
    # The Console's key page is addressed by the key id (the end of the key's
    # name, which its creator may choose), not by the uid.
    key_id = quote(key.name.rsplit("/", 1)[-1], safe="")
    return {
        "console": f"{config.console_url}/apis/credentials/key/{key_id}?project={project}",
        "aistudio": config.aistudio_url,
    }


LEAKED = "key-leaked"
REFUSED_IN_USE = "gemini-key-rejected-in-use"
# Leaks first: a known key string is the most urgent thing a message can say.
_LEAK_FIRST = {LEAKED: 0}


def gemini_off(f: FindingFacts, key: KeyFacts | None) -> bool:
    """A finding about Gemini's timeline on a key whose project has the API
    off: true of calls the key never makes."""
    return (
        key is not None
        and key.gemini_enabled is False
        and f.timeline_entry is not None
        and f.rule.startswith("gemini-")
    )


def finding_due(f: FindingFacts, at: datetime, key: KeyFacts | None = None) -> str:
    """When F is due, in words: a leak, or a refused key still in use, is due
    now, whatever its date."""
    if f.rule == LEAKED:
        return "rotate now"
    if f.rule == REFUSED_IN_USE:
        return "now: its callers are failing"
    if gemini_off(f, key):
        return "would be rejected if it called Gemini; the Gemini API is off in this project"
    deadline = f.deadline.isoformat() if f.deadline else None
    return deadline_phrase(deadline, f.deadline_kind, days_left(f.deadline, at))


def finding_document(
    f: FindingFacts, at: datetime, event: Event | None = None, key: KeyFacts | None = None
) -> dict[str, Any]:
    left = days_left(f.deadline, at)
    deadline = f.deadline.isoformat() if f.deadline else None
    document = {
        "rule": f.rule,
        "title": TITLES.get(f.rule, f.rule),
        "severity": f.severity,
        "summary": f.summary,
        "checklist": f.checklist,
        "deadline": deadline,
        "deadline_kind": f.deadline_kind,
        "timeline_entry": f.timeline_entry,
        "days_left": left,
        "due": finding_due(f, at, key),
        "fingerprint": f.fingerprint,
    }
    if event is not None:
        document |= {"event": event.kind, "event_detail": event.detail}
    return document


def _urgency(f: FindingFacts, at: datetime, key: KeyFacts) -> tuple[int, int, str, str]:
    # Leaks first; a Gemini finding where Gemini is off ranks as low; the rule
    # last: findings come in the order history gives, which is no order.
    severity = Severity.LOW if gemini_off(f, key) else Severity(f.severity)
    return (_LEAK_FIRST.get(f.rule, 1), -severity.rank, str(f.deadline or at.date()), f.rule)


def key_document(
    config: AlertsConfig,
    key: KeyFacts,
    findings: list[FindingFacts],
    at: datetime,
    events: Mapping[str, Event] | None = None,
) -> dict[str, Any]:
    """KEY with FINDINGS, worst first; EVENTS (fingerprint -> event) say what
    happened to each in this message. A resolved finding carries no checklist."""
    events = events or {}
    ordered = sorted(findings, key=lambda f: _urgency(f, at, key))
    still_open = [f for f in ordered if _event_kind(events, f) != "resolved"]
    worst = still_open[0] if still_open else (ordered[0] if ordered else None)
    last_used = key.last_used.isoformat() if key.last_used else None
    # An exception never makes a leaked string safe: it is not offered for one.
    acceptable = [f.rule for f in still_open if f.rule != LEAKED]
    return {
        "name": key.name,
        "uid": key.uid,
        "display_name": key.display_name,
        "project": key.project,
        "project_number": key.project_number,
        "key_type": key.key_type,
        # A key the scan closed is shown as deleted, whatever it was before.
        "status": "deleted" if key.gone else key.status,
        "score": key.score,
        "owners": list(key.owners),
        "links": key_links(config, key),
        "creator": key.creator,
        "restrictions_removed": (
            {"by": key.restrictions_removed[0], "at": key.restrictions_removed[1].isoformat()}
            if key.restrictions_removed
            else None
        ),
        "usage": {
            "last_used": last_used,
            "requests_7d": key.requests_7d,
            "text": usage_phrase(last_used, key.requests_7d, at),
        },
        # The problem and its due date are those of one finding, the worst; a
        # message of resolutions only says what was resolved and what is left.
        "problem": _problem(worst, bool(still_open)),
        "due": (finding_due(worst, at, key) if still_open else _left_open(key)) if worst else "",
        "findings": [finding_document(f, at, events.get(f.fingerprint), key) for f in ordered],
        "checklists": merged_checklists(key, [f.checklist for f in still_open]),
        "actions": {
            "history": history_command(key.name),
            "exception_request": (
                exception_request(key.name, acceptable, at) if acceptable else None
            ),
        },
    }


def _problem(worst: FindingFacts | None, still_open: bool) -> str | None:
    if worst is None:
        return None
    title = TITLES.get(worst.rule, worst.rule)
    return title if still_open else f"resolved: {title}"


_OPEN_STATUSES = ("blocked", "non_compliant", "at_risk")


def _left_open(key: KeyFacts) -> str:
    """What a resolution leaves: the key's status after the scan says whether
    other findings are still open on it."""
    if key.gone:
        return "nothing left open: the key is gone"
    if key.status in _OPEN_STATUSES:
        return f"still {key.status}: other findings are open"
    return "nothing left open"


def _event_kind(events: Mapping[str, Event], f: FindingFacts) -> str | None:
    event = events.get(f.fingerprint)
    return event.kind if event is not None else None


def envelope(
    config: AlertsConfig,
    kind: str,
    event: str,
    detail: str,
    receiver: str,
    why: str,
    scan_id: int | None,
    at: datetime,
) -> dict[str, Any]:
    """What every message carries besides its keys."""
    return {
        "schema": SCHEMA,
        "kind": kind,
        "event": event,
        "detail": detail,
        "receiver": receiver,
        "why": why,
        "scan_id": scan_id,
        "evaluated_at": at.isoformat(),
        "as_of": human_time(at, config.zone(receiver)),
        "links": {k: v for k, v in config.links.model_dump().items() if v},
        "contact": config.contact,
        "keys": [],
        "omitted_keys": 0,
    }


def news_document(
    config: AlertsConfig,
    batch: bool,
    receiver: str,
    why: str,
    news: list[tuple[KeyFacts, list[Event]]],
    scan_id: int,
    at: datetime,
) -> dict[str, Any]:
    """The events of one scan for one recipient: of one key (an immediate
    message), or of every key that has any (BATCH, for receivers without a
    digest). Keys in urgency order."""
    kinds = Counter(e.kind for _, events in news for e in _by_fingerprint(events).values())
    changes = sum(n for k, n in kinds.items() if k in ("opened", "escalated", "resolved"))
    kind = "batch" if batch else ("transition" if changes else "reminder")
    first = min((e for _, events in news for e in events), key=lambda e: _EVENT_RANK[e.kind])
    event = "batch" if batch or len(kinds) > 1 else first.kind
    detail = first.detail if len(news) == 1 and sum(kinds.values()) == 1 else _tally(kinds)
    document = envelope(config, kind, event, detail, receiver, why, scan_id, at)
    ordered = sorted(news, key=lambda item: urgency_order(item[0], (e.finding for e in item[1])))
    document["keys"] = []
    for key, events in ordered:
        latest = _by_fingerprint(events)  # a finding once, with its most urgent event
        findings = [e.finding for e in latest.values()]
        document["keys"].append(key_document(config, key, findings, at, latest))
    document["counts"] = dict(sorted(kinds.items(), key=lambda i: _EVENT_RANK[i[0]]))
    return document


def _by_fingerprint(events: list[Event]) -> dict[str, Event]:
    found: dict[str, Event] = {}
    for event in sorted(events, key=lambda e: _EVENT_RANK[e.kind], reverse=True):
        found[event.finding.fingerprint] = event  # the most urgent event of a finding wins
    return found


_TALLY_WORDS = {
    "opened": ("new finding", "new findings"),
    "escalated": ("escalation", "escalations"),
    "resolved": ("resolved finding", "resolved findings"),
    "reminder": ("reminder", "reminders"),
    "exception_expiring": ("exception lapsing", "exceptions lapsing"),
}


def _tally(kinds: Counter[str]) -> str:
    parts = []
    for kind in sorted(kinds, key=lambda k: _EVENT_RANK[k]):
        one, many = _TALLY_WORDS[kind]
        parts.append(plural(kinds[kind], one, many))
    return ", ".join(parts)


def news_subject(document: dict[str, Any]) -> str:
    keys = document["keys"]
    if len(keys) != 1:
        return f"[keysentry] {document['detail']} on {plural(len(keys), 'key')}"
    key = keys[0]
    name = key["display_name"] or key["uid"]
    if set(document.get("counts", {})) == {"resolved"}:  # say what happened, and what is left
        left = f"; still {key['status']}" if key["status"] in _OPEN_STATUSES else ""
        return f'[keysentry] resolved: key "{name}" in {key["project"]}: {document["detail"]}{left}'
    about = key["problem"] or key["findings"][0]["title"]
    return f'[keysentry] {document["detail"]}: key "{name}" in {key["project"]}: {about}'


def digest_document(
    config: AlertsConfig,
    receiver: str,
    content: Content,
    scan_id: int,
    at: datetime,
    overview: bool = False,
) -> dict[str, Any]:
    """The keys that need action, those with a finding new or worse since the
    recipient's last digest first, then by urgency. The OVERVIEW is the first
    scan's single message to a recipient."""
    verb = "needs" if content.total == 1 else "need"
    detail = f"{plural(content.total, 'key')} {verb} action"
    if overview:
        detail = f"First scan of your keys: {detail}"
    elif content.fresh:
        detail += f", {content.fresh:,} new or changed since the last digest"
    kind = "overview" if overview else "digest"
    reason = why_for(content.audience)
    document = envelope(config, kind, kind, detail, receiver, reason, scan_id, at)
    document["counts"] = {
        status: n
        for status, n in sorted(content.by_status.items(), key=lambda i: KeyStatus(i[0]).rank)
    }
    document["keys"] = [
        key_document(config, k, fs, at) | {"new": fresh} for k, fs, fresh in content.top()
    ]
    document["omitted_keys"] = content.omitted
    return document


def digest_subject(document: dict[str, Any]) -> str:
    counts = document["counts"]
    parts = [
        f"{counts[s.value]:,} {s.value.replace('_', '-')}" for s in KeyStatus if s.value in counts
    ]
    total = sum(counts.values())
    verb = "needs" if total == 1 else "need"
    lead = "first scan: " if document["kind"] == "overview" else ""
    return f"[keysentry] {lead}{total:,} of your API keys {verb} action: {', '.join(parts)}"
