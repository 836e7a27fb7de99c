"""What an owner can do from a message, without any write endpoint on the
worker: look at the key's history, or ask for an exception by sending the
security team an entry for the exceptions file, filled in but for the reason
and the approver (the team's review of the config is where it is accepted)."""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta

import yaml

# A proposal, well within the default exceptions.max_days (180): the team
# shortens or lengthens it in review.
PROPOSED_DAYS = 90
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


def history_command(key_name: str) -> str:
    return f"keysentry history key {shlex.quote(key_name)}"


def exception_id(key_name: str) -> str:
    """An id the exceptions file accepts (lowercase, at most 63 characters)."""
    key_id = key_name.rsplit("/", 1)[-1].lower()
    found = _UNSAFE.sub("-", f"{key_id}-accepted").strip("-._")
    return found[:63].rstrip("-._") or "accepted"


def exception_request(
    key_name: str, rules: list[str], at: datetime, ticket: str | None = None
) -> str:
    """The entry to propose, as YAML for `exceptions.entries` (a list item)."""
    entry: dict[str, object] = {
        "id": exception_id(key_name),
        "rules": sorted(set(rules)),
        "keys": [key_name],
        "reason": "FILL IN: why the risk is accepted, and what limits it",
        "approved_by": "FILL IN: who approves (an address)",
        "expires": (at + timedelta(days=PROPOSED_DAYS)).date(),
    }
    if ticket is not None:
        entry["ticket"] = ticket
    text = yaml.safe_dump([entry], sort_keys=False, default_flow_style=None, width=1000)
    return text.rstrip("\n")
