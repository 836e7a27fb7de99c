"""The lines every channel shows, from a notification document of either
version: a key's summary line, a finding's line, its checklists, the links.
Version 1 documents (queued before an upgrade) lack the newer fields."""

from __future__ import annotations

from typing import Any

from scanner.alerts.content.text import checklist_for, days_phrase, plain

_EVENT_WORDS = {
    "opened": "new",
    "escalated": "worse",
    "resolved": "resolved",
    "reminder": "reminder",
    "exception_expiring": "exception lapsing",
}
_LINK_TITLES = {
    "team": "Security team",
    "exceptions": "Request an exception",
    "runbook": "Runbook",
    "report": "All keys",
}


def summary_line(key: dict[str, Any]) -> str:
    name = plain(key["display_name"] or key["uid"])
    problem = key.get("problem") or (key["findings"][0]["rule"] if key["findings"] else "")
    usage = (key.get("usage") or {}).get("text")
    status = key["status"].replace("_", "-")
    lead = "NEW " if key.get("new") else ""
    parts = [f"{lead}{name} ({plain(key['project'])})", status, problem, key.get("due")]
    if usage:
        parts.append(usage)
    return " | ".join(str(p) for p in parts if p)


def finding_line(f: dict[str, Any]) -> str:
    event = f.get("event")
    lead = f"{_EVENT_WORDS.get(event, event)}: " if event else ""
    if event == "resolved":
        return f"{lead}{f.get('title', f['rule'])} ({f.get('event_detail') or 'resolved'})"
    due = f.get("due") or (days_phrase(f["days_left"]) if f.get("deadline") else None)
    title = f.get("title", f["rule"])
    if due and _restated(due, f.get("summary")):
        due = None  # the summary, which follows the line, says it already
    return f"{lead}[{f['severity']}] {title}" + (f", {due}" if due and f.get("deadline") else "")


def _restated(due: str, summary: str | None) -> bool:
    def words(text: str) -> str:
        return text.strip().rstrip(".").lower()

    return summary is not None and words(due) == words(summary)


def checklists_of(key: dict[str, Any]) -> list[dict[str, Any]]:
    merged = key.get("checklists")
    if merged is not None:
        return list(merged)
    ids = dict.fromkeys(f["checklist"] for f in key["findings"])  # a version 1 document
    return [checklist_for(i) for i in ids]


def links_of(key: dict[str, Any] | None, pages: dict[str, str]) -> list[tuple[str, str]]:
    if key is not None:
        tickets = (key.get("actions") or {}).get("tickets") or ()
        return [
            ("Cloud Console", key["links"]["console"]),
            ("AI Studio", key["links"]["aistudio"]),
            *((f"Ticket {t['ticket']}", t["url"]) for t in tickets if t.get("url")),
        ]
    return [(_LINK_TITLES.get(name, name), url) for name, url in pages.items()]


def accepted_line(document: dict[str, Any]) -> str | None:
    """A digest's word on accepted findings: a count, never the keys."""
    n = int(document.get("accepted_keys") or 0)
    if not n:
        return None
    has = "key has" if n == 1 else "keys have"
    return f"{n:,} more {has} findings an exception accepts; they are not listed."
