"""What a ticket system does for keysentry, whichever it is (Jira,
ServiceNow): find a group's ticket by the keysentry id it carries, create,
comment, update, resolve and reopen it, and list the tickets people closed
without a fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from scanner.config.tickets import TicketReceiverConfig
from scanner.tickets.groups import Group


@dataclass(frozen=True, slots=True)
class Remote:
    """A ticket as the system has it."""

    key: str  # SEC-12, or INC0010001
    id: str  # what the API addresses it by (the key, or the sys_id)
    url: str
    done: bool = False
    resolution: str | None = None


class Tickets(Protocol):
    def find(self, group_id: str) -> Remote | None: ...

    def create(self, group: Group, text: str) -> Remote: ...

    def comment(self, remote: Remote, text: str) -> None: ...

    def update(self, remote: Remote, group: Group) -> None: ...

    def resolve(self, remote: Remote, text: str) -> None: ...

    def reopen(self, remote: Remote, text: str) -> None: ...

    def declined(self) -> dict[str, Remote]:
        """Group id -> each keysentry ticket closed without a fix."""
        ...


def label(group_id: str) -> str:
    """The keysentry id a ticket carries: a Jira label, a correlation id."""
    return f"keysentry-{group_id}"


def place(receiver: TicketReceiverConfig) -> tuple[str, str]:
    """Where RECEIVER's tickets are, and the link a person would open."""
    if receiver.jira is not None:
        jira = receiver.jira
        return f"Jira project {jira.project}", f"{jira.url}/browse/{jira.project}"
    assert receiver.servicenow is not None
    snow = receiver.servicenow
    return f"the ServiceNow {snow.table} table", f"{snow.url}/{snow.table}_list.do"
