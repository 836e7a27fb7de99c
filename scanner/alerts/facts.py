"""What alerts are made of, as plain data: a key and a finding as a scan saw
them, an event about them, and the target a message goes to. Read from
history by alerts.store; planned by alerts.plan; worded by alerts.content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple


class KeyFacts(NamedTuple):
    """A tuple, as FindingFacts: one per open key a full read of planning makes."""

    name: str
    uid: str
    display_name: str
    project: str  # project id, or number when the id is unknown
    project_number: str
    key_type: str
    status: str
    score: int
    owners: tuple[str, ...] = ()  # as the scan resolved them (scanner.sources.inventory.ownership)
    creator: str | None = None
    # (by whom, when) the key's API restrictions were last removed, from the audit log
    restrictions_removed: tuple[str | None, datetime] | None = None
    api_targets: tuple[str, ...] = ()
    application_restriction: str = "none"
    gemini_enabled: bool | None = None
    # From Cloud Monitoring, when the scan read usage (scanner.alerts.facts.usage_of).
    last_used: datetime | None = None
    requests_7d: int | None = None
    gone: bool = False  # the scan closed the key: deleted, or no longer in the inventory


class FindingFacts(NamedTuple):
    """A tuple: planning builds one per open finding it reads, and a frozen
    dataclass costs four times as much to build."""

    fingerprint: str
    rule: str
    severity: str
    summary: str
    checklist: str
    deadline: date | None
    deadline_kind: str | None
    timeline_entry: str | None


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # opened | escalated | resolved | reminder
    key: KeyFacts
    finding: FindingFacts
    detail: str
    identity: str  # unique per event; part of each notification's dedupe key


def days_left(deadline: date | None, at: datetime) -> int | None:
    return None if deadline is None else (deadline - at.date()).days


class Target(NamedTuple):
    """Who gets a message. A tuple: planning hashes one per finding and
    target, and a tuple's hash is computed in C."""

    receiver: str
    channel: str  # email | webhook
    address: str  # an email address, or the webhook's name
