"""The `ocsf` webhook format: the findings of one notification as OCSF
Compliance Finding events (scanner.ocsf.compliance), a JSON array for a
SIEM's HTTP collector. What happened to each finding in the message sets its
OCSF status: opened is New, resolved Resolved (the check passes), an
expiring exception Suppressed, the rest In Progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scanner.ocsf.compliance import (
    IN_PROGRESS,
    NEW,
    RESOLVED,
    SUPPRESSED,
    Judged,
    Lifecycle,
    Subject,
    event,
)
from scanner.store.history.rows import fingerprint

_STAGES: dict[str | None, Lifecycle] = {
    "opened": NEW,
    "resolved": RESOLVED,
    "exception_expiring": SUPPRESSED,
}


def events(document: dict[str, Any]) -> list[dict[str, Any]]:
    at = datetime.fromisoformat(document["evaluated_at"])
    scan_id = document.get("scan_id")
    found = []
    for key in document.get("keys") or ():
        subject = Subject(
            str(key.get("name") or ""),
            key.get("display_name") or key.get("uid") or str(key.get("name") or ""),
            key.get("project") or "",
            key.get("project_number") or "",
            tuple(key.get("owners") or ()),
            key.get("key_type") or "",
            key.get("status") or "",
        )
        for f in key.get("findings") or ():
            rule = str(f.get("rule") or "")
            judged = Judged(
                # A document queued before fingerprints were in it: the same id.
                f.get("fingerprint") or fingerprint(rule, subject.name),
                rule,
                str(f.get("severity") or ""),
                str(f.get("summary") or ""),
                str(f.get("checklist") or ""),
                f.get("deadline"),
                f.get("deadline_kind"),
            )
            stage = _STAGES.get(f.get("event"), IN_PROGRESS)
            found.append(event(subject, judged, stage, at, scan_id))
    return found
