"""What a ticket says: its description, what changed, why it is resolved or
reopened. Plain text, which Jira (wiki text, REST v2) and ServiceNow show
as written."""

from __future__ import annotations

from scanner.alerts.content.actions import history_command
from scanner.tickets.groups import Group, Item


def description(group: Group) -> str:
    lines = [f"keysentry found {len(group.items)} problem(s) to fix:", ""]
    lines += _items(group.items)
    keys = sorted({i.key_name for i in group.items})
    lines += ["", "History of each key:"] + [f"  {history_command(k)}" for k in keys]
    lines += ["", "keysentry updates this ticket as the findings change and resolves it when"]
    lines += ["none is left; an exception the security team approves also removes a finding."]
    return "\n".join(lines)


def _items(items: list[Item]) -> list[str]:
    return [f"- {i.line()}\n  {i.summary}" for i in sorted(items, key=lambda i: i.line())]


def changes(group: Group, before: tuple[str, ...]) -> str:
    """What opened and what resolved since the ticket last spoke."""
    now = {i.fingerprint for i in group.items}
    opened = [i for i in group.items if i.fingerprint not in before]
    gone = len(set(before) - now)
    lines = ["keysentry: the findings of this ticket changed."]
    if opened:
        lines += ["", "Now open:", *_items(opened)]
    if gone:
        lines += ["", f"Resolved: {gone} finding(s)."]
    due = group.due.isoformat() if group.due else "none"
    lines += ["", f"Still open: {len(group.items)}; worst: {group.severity}; due: {due}."]
    return "\n".join(lines)


def resolved() -> str:
    return "keysentry: every finding of this ticket is resolved (fixed, or accepted)."


def reopened(group: Group) -> str:
    return "keysentry: findings of this ticket are open again.\n\n" + "\n".join(_items(group.items))
