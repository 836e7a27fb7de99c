"""Which keys a report shows: by status, owner, project, rule or leak, as
given on the command line. Every filter given must hold; within one, any
of its values."""

from __future__ import annotations

from dataclasses import dataclass

from scanner.report.records import ReportKey


@dataclass(frozen=True)
class KeyFilter:
    statuses: frozenset[str] = frozenset()
    owners: tuple[str, ...] = ()  # a part of an owner's address, any case
    projects: frozenset[str] = frozenset()  # project ids or numbers
    rules: frozenset[str] = frozenset()  # an open finding of one of these rules
    leaked: bool = False

    def __bool__(self) -> bool:
        return bool(self.statuses or self.owners or self.projects or self.rules or self.leaked)

    def matches(self, k: ReportKey) -> bool:
        if self.statuses and k.status.value not in self.statuses:
            return False
        if self.projects and not {k.project, k.project_number} & self.projects:
            return False
        if self.owners:
            owners = [o.lower() for o in k.owners]
            if not any(part.lower() in o for part in self.owners for o in owners):
                return False
        if self.rules and not any(f.rule in self.rules for f in k.findings):
            return False
        return not self.leaked or bool(k.leaks) or any(f.rule == "key-leaked" for f in k.findings)

    def __str__(self) -> str:
        parts = [
            ("status", sorted(self.statuses)),
            ("owner", list(self.owners)),
            ("project", sorted(self.projects)),
            ("rule", sorted(self.rules)),
        ]
        said = [f"{name} {' or '.join(values)}" for name, values in parts if values]
        if self.leaked:
            said.append("leaked")
        return ", ".join(said)
