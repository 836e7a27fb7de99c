"""What the history writer has yet to write: rows to insert, interval ids to
close and transitions, flushed together every few thousand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class WriteBuffer:
    scan_id: int
    at: datetime
    key_inserts: list[dict[str, Any]] = field(default_factory=list)
    key_closes: list[int] = field(default_factory=list)
    finding_inserts: list[dict[str, Any]] = field(default_factory=list)
    finding_closes: list[int] = field(default_factory=list)
    usage_inserts: list[dict[str, Any]] = field(default_factory=list)
    usage_closes: list[int] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)

    def transition(self, kind: str, key_name: str, **values: str | None) -> None:
        self.transitions.append(
            {
                "scan_id": self.scan_id,
                "at": self.at,
                "kind": kind,
                "key_name": key_name,
                "fingerprint": values.get("fingerprint"),
                "rule_id": values.get("rule_id"),
                "from_value": values.get("from_value"),
                "to_value": values.get("to_value"),
                "reason": values.get("reason"),
                "exception_id": values.get("exception_id"),
            }
        )

    def _lists(self) -> tuple[list[Any], ...]:
        return (
            self.key_inserts,
            self.key_closes,
            self.finding_inserts,
            self.finding_closes,
            self.usage_inserts,
            self.usage_closes,
            self.transitions,
        )

    def size(self) -> int:
        # Asked after every key: plain additions, not a generator over _lists().
        return (
            len(self.key_inserts)
            + len(self.key_closes)
            + len(self.finding_inserts)
            + len(self.finding_closes)
            + len(self.usage_inserts)
            + len(self.usage_closes)
            + len(self.transitions)
        )

    def clear(self) -> None:
        for rows in self._lists():
            rows.clear()
