"""Which findings go in which ticket: each finding open at a scan (an
accepted one is not) is routed by `tickets.route` as alerts are, then
grouped per key or per project and owner. A group's id is stable (its
receiver and what groups it), so its ticket is found again on every sync."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from scanner.alerts.facts import FindingFacts, KeyFacts
from scanner.alerts.plan.routing import route_receivers
from scanner.config.tickets import TicketsConfig
from scanner.core.models import Severity
from scanner.report.records import ReportFinding, ReportKey
from scanner.rules.catalog import ALL_RULES
from scanner.store.history.rows import fingerprint

_TITLES = {meta.id: meta.title for meta in ALL_RULES}
_RANK = {s.value: s.rank for s in Severity}


@dataclass(frozen=True, slots=True)
class Item:
    """One finding in a ticket."""

    fingerprint: str
    key_name: str
    key_display: str
    rule: str
    severity: str
    summary: str
    deadline: date | None

    def line(self) -> str:
        due = f", due {self.deadline.isoformat()}" if self.deadline else ""
        return f"[{self.severity}] {self.key_display}: {_TITLES.get(self.rule, self.rule)}{due}"


@dataclass
class Group:
    id: str  # 32 hexadecimal characters
    receiver: str
    title: str
    project: str
    owners: tuple[str, ...]
    items: list[Item] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return max(self.items, key=lambda i: _RANK[i.severity]).severity

    @property
    def due(self) -> date | None:
        dates = [i.deadline for i in self.items if i.deadline is not None]
        return min(dates) if dates else None

    @property
    def digest(self) -> str:
        """What the ticket says: it is updated when this changes."""
        body = "\n".join(sorted(f"{i.fingerprint} {i.severity} {i.deadline}" for i in self.items))
        return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


def urgency(group: Group) -> tuple[int, date, str]:
    """Most urgent first: the worst severity, then the earliest due date."""
    return (-_RANK[group.severity], group.due or date.max, group.title)


def _facts(key: ReportKey) -> KeyFacts:
    return KeyFacts(
        key.name,
        key.uid,
        key.display_name,
        key.project,
        key.project_number,
        key.key_type,
        key.status.value,
        key.score,
        tuple(key.owners),
    )


def _finding(key: ReportKey, f: ReportFinding) -> FindingFacts:
    return FindingFacts(
        fingerprint(f.rule, key.name),
        f.rule,
        f.severity.value,
        f.summary,
        f.checklist,
        f.deadline,
        f.deadline_kind,
        None,
    )


def group_id(receiver: str, what: str) -> str:
    return hashlib.sha256(f"{receiver}\x00{what}".encode()).hexdigest()[:32]


def grouped_by(config: TicketsConfig, key_name: str, project: str, owners: Sequence[str]) -> str:
    """What puts a key's findings in one group: the key, or its project and
    first owner."""
    if config.group_by == "key":
        return key_name
    return f"{project}\x00{owners[0] if owners else 'no owner'}"


def groups(config: TicketsConfig, keys: Iterable[ReportKey]) -> dict[str, Group]:
    """Every group of the keys' open findings, by id."""
    assert config.route is not None
    found: dict[str, Group] = {}
    for key in keys:
        facts = _facts(key)
        display = key.display_name or key.uid
        owner = key.owners[0] if key.owners else "no owner"
        for f in key.findings:
            item = Item(
                fingerprint(f.rule, key.name), key.name, display, f.rule, f.severity.value,
                f.summary, f.deadline,
            )  # fmt: skip
            for receiver in route_receivers(config.route, facts, _finding(key, f)):
                gid = group_id(receiver, grouped_by(config, key.name, key.project, key.owners))
                if config.group_by == "key":
                    title = f'API key "{display}" ({key.project})'
                else:
                    title = f"API keys of {key.project} ({owner})"
                group = found.get(gid)
                if group is None:
                    group = found[gid] = Group(gid, receiver, title, key.project, tuple(key.owners))
                group.items.append(item)
    return found
