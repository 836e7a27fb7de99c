"""Why a recipient gets a message: on a receiver's list, a channel of it, an
owner of the keys' projects (and through what), or the fallback for keys
nobody owns."""

from __future__ import annotations

import fnmatch

from scanner.alerts.facts import KeyFacts, Target
from scanner.config.alerts import AlertsConfig


def _projects(projects: list[str]) -> str:
    shown = ", ".join(projects[:3])
    more = len(projects) - 3
    return shown + (f" and {more:,} more" if more > 0 else "")


def named_by_config(config: AlertsConfig, address: str, key: KeyFacts) -> bool:
    return any(
        address in to
        and (
            fnmatch.fnmatchcase(key.project, glob) or fnmatch.fnmatchcase(key.project_number, glob)
        )
        for glob, to in config.owners.items()
    )


class Audience:
    """What says why TARGET gets a message about some keys, gathered a key at
    a time: a digest of a million keys keeps sets of projects, not the keys."""

    def __init__(self, config: AlertsConfig, target: Target) -> None:
        self.config, self.target = config, target
        self._address = target.address.lower()
        self.projects: set[str] = set()
        self.configured: set[str] = set()
        self.created: set[str] = set()
        self.owned: set[str] = set()

    def add(self, key: KeyFacts) -> None:
        if key.project not in self.projects:
            self.projects.add(key.project)
            if named_by_config(self.config, self.target.address, key):
                self.configured.add(key.project)
        if key.creator is not None and key.creator.lower() == self._address:
            self.created.add(key.display_name or key.uid)
        elif key.owners and self._address in {o.lower() for o in key.owners}:
            self.owned.add(key.project)


def why(config: AlertsConfig, target: Target, keys: list[KeyFacts]) -> str:
    audience = Audience(config, target)
    for key in keys:
        audience.add(key)
    return why_for(audience)


def why_for(audience: Audience) -> str:
    config, target = audience.config, audience.target
    receiver = config.receiver(target.receiver)
    if target.channel == "webhook":
        return f"This channel is webhook {target.address} of receiver {receiver.name}."
    if receiver.email is not None and target.address in receiver.email.to:
        return f"You are on the list of receiver {receiver.name}."
    configured = sorted(audience.configured)
    created = sorted(audience.created)
    resolved = sorted(audience.owned - audience.configured)
    parts = []
    if created:
        parts.append(f"you created key {_projects(created)}")
    if configured:
        parts.append(f"alerts.owners names you for project {_projects(configured)}")
    if resolved:
        parts.append(
            f"you are an owner of project {_projects(resolved)} (roles/owner on it or an "
            "ancestor, or its owner or team label)"
        )
    if not parts:
        orphans = sorted(audience.projects)
        return (
            f"No owner is known for project {_projects(orphans)}: you get its keys as "
            f"receiver {receiver.name}, the fallback."
        )
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] if text.startswith("you") else text) + "."
