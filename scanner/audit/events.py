"""Turns one audit entry into a KeyEvent, whichever reader found it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scanner.models import KeyEvent

METHODS = ("CreateKey", "UpdateKey", "DeleteKey", "UndeleteKey")


def restrictions_removed(request: dict[str, Any]) -> bool:
    """An UpdateKey that writes restrictions without API targets."""
    mask = str(request.get("updateMask", ""))
    key = request.get("key") or {}
    if mask and "restrictions" not in mask:
        return False
    restrictions = key.get("restrictions") or {}
    return "restrictions" in key and not restrictions.get("apiTargets")


def key_event(
    insert_id: str,
    at: datetime,
    method_name: str,
    resource_name: str,
    principal: str | None,
    request: dict[str, Any],
    project_numbers: dict[str, str],
) -> KeyEvent | None:
    """None for entries about anything but one key's Create/Update/Delete/Undelete."""
    method = method_name.rsplit(".", 1)[-1]
    if method not in METHODS or "/keys/" not in resource_name:
        return None
    # Keys are named by project number; an entry may name the project by id.
    parts = resource_name.split("/")
    if len(parts) > 1 and parts[0] == "projects" and parts[1] in project_numbers:
        parts[1] = project_numbers[parts[1]]
    return KeyEvent(
        insert_id=insert_id,
        key_name="/".join(parts),
        at=at.astimezone(UTC),
        method=method,
        principal=principal or None,
        restrictions_removed=method == "UpdateKey" and restrictions_removed(request),
    )
