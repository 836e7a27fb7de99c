"""Reminders that an exception is about to lapse, at each of its configured
days before the expiry (exceptions.remind_days): one per finding it accepts
to whoever the routes send that key's news to, and one per exception to its
approver, listing what it accepts. The exceptions are read from the scan's
rules in force, so the reminder says what the scan was judged under."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from scanner.alerts.content.payload import envelope, key_document
from scanner.alerts.content.wording import human_date, in_days, plural
from scanner.alerts.facts import Event, FindingFacts, KeyFacts
from scanner.alerts.plan.routing import Router
from scanner.alerts.store import outbox
from scanner.alerts.store.facts import accepted_findings
from scanner.alerts.store.moves import config_digest_of
from scanner.config.alerts import AlertsConfig
from scanner.core.addresses import is_address
from scanner.store.configs import config_document

KIND = "exception_expiring"
APPROVER_MAX_KEYS = 100  # the rest as a count: `keysentry exceptions list` has them all


@dataclass
class ApproverNotice:
    exception: str
    approver: str  # an email address
    expires: str
    before: int  # the reminder point crossed, days before the expiry
    findings: list[tuple[KeyFacts, FindingFacts]] = field(default_factory=list)


@dataclass
class Reminders:
    events: list[Event]  # per finding, routed like the key's other news
    approvers: list[ApproverNotice]


def _due(
    entry: dict[str, Any], days: list[int], at: datetime, since: datetime | None
) -> int | None:
    """The reminder point (days before the expiry) crossed since SINCE, if any."""
    expires = date.fromisoformat(entry["expires"])
    midnight = datetime.combine(expires, time(0), UTC)
    if at >= midnight:
        return None  # lapsed: the scan's transitions say so
    crossed = None
    for before in sorted(days, reverse=True):
        point = midnight - timedelta(days=before)
        if point <= at and (since is None or point > since):
            crossed = before
    return crossed


def exception_reminders(
    conn: Connection, scan_id: int, at: datetime, since: datetime | None
) -> Reminders:
    digest = config_digest_of(conn, scan_id)
    section = (config_document(conn, digest) or {}).get("exceptions") or {}
    days = list(section.get("remind_days") or [])
    due: dict[str, tuple[int, str]] = {}
    approvers: dict[str, ApproverNotice] = {}
    for entry in section.get("entries") or []:
        before = _due(entry, days, at, since)
        if before is None:
            continue
        due[entry["id"]] = (before, entry["expires"])
        if is_address(entry["approved_by"]):
            notice = ApproverNotice(entry["id"], entry["approved_by"], entry["expires"], before)
            approvers[entry["id"]] = notice
    if not due:
        return Reminders([], [])
    events = []
    for key, finding, exception in accepted_findings(conn, scan_id, set(due)):
        before, expires = due[exception]
        left = (date.fromisoformat(expires) - at.date()).days
        detail = (
            f"exception {exception} lapses on {human_date(expires)} ({in_days(left)}): renew it "
            "with a new "
            "approval, or fix the key before the finding counts again"
        )
        identity = f"x:{exception}:{expires}:-{before}:{finding.fingerprint}"
        events.append(Event(KIND, key, finding, detail, identity))
        if exception in approvers:
            approvers[exception].findings.append((key, finding))
    return Reminders(events, [n for n in approvers.values() if n.findings])


def approver_rows(
    config: AlertsConfig, router: Router, notices: list[ApproverNotice], scan_id: int, at: datetime
) -> list[dict[str, Any]]:
    """One email per notice to its approver, sent as the first receiver with an
    email channel that the routes give its findings (else the first configured
    one): its SMTP settings are the ones that reach people. None without any."""
    mailing = [r.name for r in config.receivers if r.email is not None]
    rows = []
    for notice in notices:
        routed = (
            t.receiver
            for key, finding in notice.findings
            for t in router.targets(key, finding)
            if t.channel == "email"
        )
        receiver = next(routed, None) or next(iter(mailing), None)
        if receiver is None:
            continue
        subject, document = _approver_document(config, notice, scan_id, at)
        identity = f"xa:{notice.exception}:{notice.expires}:-{notice.before}"
        key = outbox.dedupe_key("reminder", identity, receiver, "email", notice.approver)
        rows.append(
            outbox.notification_row(
                key, "reminder", receiver, "email", notice.approver, subject, document, scan_id, at
            )
        )
    return rows


def _approver_document(
    config: AlertsConfig, notice: ApproverNotice, scan_id: int, at: datetime
) -> tuple[str, dict[str, Any]]:
    per_key: dict[str, tuple[KeyFacts, list[FindingFacts]]] = {}
    for key, finding in notice.findings:
        per_key.setdefault(key.name, (key, []))[1].append(finding)
    listed = list(per_key.values())[:APPROVER_MAX_KEYS]
    left = (date.fromisoformat(notice.expires) - at.date()).days
    accepts = f"{plural(len(notice.findings), 'finding')} on {plural(len(per_key), 'key')}"
    detail = (
        f"exception {notice.exception}, which you approved, lapses on "
        f"{human_date(notice.expires)} ({in_days(left)}); it accepts {accepts}. Renew it in "
        "review with a new "
        "expiry if it still holds, or have the keys fixed before their findings count again"
    )
    subject = (
        f"[keysentry] exception {notice.exception} lapses on {human_date(notice.expires)}: "
        f"{accepts}"
    )
    document = {
        **envelope(
            config,
            "reminder",
            KIND,
            detail,
            f"the approver of exception {notice.exception}",
            f"You approved exception {notice.exception}.",
            scan_id,
            at,
        ),
        "exception": {"id": notice.exception, "expires": notice.expires},
        "keys": [key_document(config, key, findings, at) for key, findings in listed],
        "omitted_keys": len(per_key) - len(listed),
    }
    return subject, document
