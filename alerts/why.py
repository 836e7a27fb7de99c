"""Why a recipient gets a message: on a receiver's list, a channel of it, an
owner of the keys' projects (and through what), or the fallback for keys
nobody owns."""

from __future__ import annotations

import fnmatch

from alerts.config import AlertsConfig
from alerts.facts import KeyFacts
from alerts.routing import Target


def _projects(projects: list[str]) -> str:
    shown = ", ".join(projects[:3])
    more = len(projects) - 3
    return shown + (f" and {more:,} more" if more > 0 else "")


def _named_by_config(config: AlertsConfig, address: str, key: KeyFacts) -> bool:
    return any(
        address in to
        and (
            fnmatch.fnmatchcase(key.project, glob) or fnmatch.fnmatchcase(key.project_number, glob)
        )
        for glob, to in config.owners.items()
    )


def why(config: AlertsConfig, target: Target, keys: list[KeyFacts]) -> str:
    receiver = config.receiver(target.receiver)
    if target.channel == "webhook":
        return f"This channel is webhook {target.address} of receiver {receiver.name}."
    if receiver.email is not None and target.address in receiver.email.to:
        return f"You are on the list of receiver {receiver.name}."
    configured = sorted({k.project for k in keys if _named_by_config(config, target.address, k)})
    address = target.address.lower()
    made = [k for k in keys if (k.creator or "").lower() == address]
    created = sorted({k.display_name or k.uid for k in made})
    owned = {k.project for k in keys if address in {o.lower() for o in k.owners} and k not in made}
    resolved = sorted(owned - set(configured))
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
        orphans = sorted({k.project for k in keys})
        return (
            f"No owner is known for project {_projects(orphans)}: you get its keys as "
            f"receiver {receiver.name}, the fallback."
        )
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] if text.startswith("you") else text) + "."
