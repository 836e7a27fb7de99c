"""A digest's figures over every key it lists: how many by status, the
projects (and which of them alerts.owners names the recipient for, or the
recipient owns), the keys the recipient created, and how many keys have
findings an exception accepts. Kept up to date a line at a time as keys are
redone (scanner.alerts.plan.lines), so that a digest of a million keys reads them, not
the keys."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from scanner.alerts.content.why import Audience
from scanner.alerts.facts import Target
from scanner.config.alerts import AlertsConfig

# A digest line as stored, after key_name and target_id: listed, accepted,
# urgency, status, project, named, owned, created.
Line = tuple[bool, bool, str, str, str, bool, bool, str | None]


@dataclass
class Figures:
    by_status: Counter[str] = field(default_factory=Counter)
    # project -> [keys, of them named by alerts.owners, of them owned by the recipient]
    projects: dict[str, list[int]] = field(default_factory=dict)
    created: Counter[str] = field(default_factory=Counter)
    accepted: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def count(self, line: Line, sign: int) -> None:
        """Count LINE in (SIGN 1) or out (SIGN -1)."""
        listed, accepted, _, status, project, named, owned, created = line
        if accepted:
            self.accepted += sign
        if not listed:
            return
        by_status = self.by_status
        by_status[status] = left = by_status.get(status, 0) + sign
        if not left:
            del by_status[status]
        counts = self.projects.get(project)
        if counts is None:
            counts = self.projects[project] = [0, 0, 0]
        counts[0] += sign
        if named:
            counts[1] += sign
        if owned:
            counts[2] += sign
        if not counts[0]:
            del self.projects[project]
        if created is not None:
            self.created[created] = left = self.created.get(created, 0) + sign
            if not left:
                del self.created[created]

    def audience(self, config: AlertsConfig, target: Target) -> Audience:
        audience = Audience(config, target)
        for project, (_, named, owned) in self.projects.items():
            audience.projects.add(project)
            if named:
                audience.configured.add(project)
            if owned:
                audience.owned.add(project)
        audience.created.update(self.created)
        return audience

    def as_json(self) -> dict[str, Any]:
        return {
            "by_status": dict(self.by_status),
            "projects": self.projects,
            "created": dict(self.created),
            "accepted": self.accepted,
        }

    @classmethod
    def of(cls, stored: dict[str, Any]) -> Figures:
        return cls(
            Counter(stored["by_status"]),
            {project: list(counts) for project, counts in stored["projects"].items()},
            Counter(stored["created"]),
            stored["accepted"],
        )
