"""Turns one audit entry into a KeyEvent, whichever reader found it.

Shapes, as Google writes them (API Keys audit logging,
https://cloud.google.com/api-keys/docs/audit-logging; method names from
googleapis/google-cloudevents AUDIT_CATALOG.md; a sanitized CreateKey entry in
panther-labs/panther-analysis rules/gcp_audit_rules/
gcp_serviceusage_apikeys_create_privilege_escalation.yml):
- v2 methods are long-running operations: one entry when the operation starts
  (`operation.first`) and one when it ends (`operation.last`);
- a CreateKey entry names the project in `resourceName` (`projects/<number>`)
  and the key only in `response.name` (the last entry's response is the Key);
- the v1 API's CreateApiKey / PatchApiKey / DeleteApiKey name the key by
  `response.keyId` within the project of `resourceName`; its
  RegenerateApiKey / RevertApiKey (a new key string, the old one back) and
  DeleteApiKeys are read the same way (no public sample of those entries was
  found: any of the fields above may name the key);
- v2beta1 methods have the v2 names (`google.api.apikeys.v2beta1.ApiKeys.CreateKey`):
  only the last part of a method name is compared;
- GetKeyString (who read a key's string) is ADMIN_READ: it is written to the
  Data Access log (`.../logs/cloudaudit.googleapis.com%2Fdata_access`), only
  where Data Access audit logs are enabled for apikeys.googleapis.com, with
  the caller's address in `requestMetadata.callerIp`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from scanner.core.models import KeyEvent

# Every method that creates, changes or removes one key, as the event it is.
METHODS = {
    "CreateKey": "CreateKey",
    "CloneKey": "CreateKey",  # the response is the new key
    "CreateApiKey": "CreateKey",
    "UpdateKey": "UpdateKey",
    "PatchApiKey": "UpdateKey",
    "DeleteKey": "DeleteKey",
    "DeleteApiKey": "DeleteKey",
    "DeleteApiKeys": "DeleteKey",
    "UndeleteKey": "UndeleteKey",
    "RegenerateApiKey": "RegenerateKey",
    "RevertApiKey": "RevertKey",
    "GetKeyString": "GetKeyString",
}
# The methods of the Data Access log: the others are Admin Activity.
DATA_ACCESS_METHODS = frozenset({"GetKeyString"})
_ADDRESS_MAX = 64  # an IPv6 address with a zone fits; key_events.caller_ip holds no more
_KEY_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/keys/([^/]+)$")
_PROJECT = re.compile(r"^projects/([^/]+)(?:/|$)")
_SERVICE_PREFIX = "//apikeys.googleapis.com/"


def restrictions_removed(request: Mapping[str, Any]) -> bool:
    """An update that writes restrictions without API targets."""
    mask = str(request.get("updateMask", ""))
    key = request.get("key") or {}
    if not isinstance(key, Mapping) or (mask and "restrictions" not in mask):
        return False
    restrictions = key.get("restrictions") or {}
    if not isinstance(restrictions, Mapping):
        return False
    return "restrictions" in key and not restrictions.get("apiTargets")


def _as_key_name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.removeprefix(_SERVICE_PREFIX)
    return value if _KEY_NAME.match(value) else None


def _project_of(*names: Any) -> str | None:
    for name in names:
        if isinstance(name, str):
            found = _PROJECT.match(name.removeprefix(_SERVICE_PREFIX))
            if found:
                return found.group(1)
    return None


def key_name_of(
    resource_name: str, request: Mapping[str, Any], response: Mapping[str, Any]
) -> str | None:
    """The key an entry is about, from whichever field names it."""
    key = request.get("key")
    candidates = [
        resource_name,
        response.get("name"),
        request.get("name"),
        key.get("name") if isinstance(key, Mapping) else None,
    ]
    for candidate in candidates:
        name = _as_key_name(candidate)
        if name is not None:
            return name
    key_id = response.get("keyId")
    project = _project_of(resource_name, request.get("parent"))
    if isinstance(key_id, str) and key_id and "/" not in key_id and project:
        return f"projects/{project}/locations/global/keys/{key_id}"
    return None


def key_event(
    insert_id: str,
    at: datetime,
    method_name: str,
    resource_name: str,
    principal: str | None,
    request: Mapping[str, Any],
    project_numbers: Mapping[str, str],
    response: Mapping[str, Any] | None = None,
    operation_id: str | None = None,
    caller_ip: str | None = None,
) -> KeyEvent | None:
    """None for entries about anything but one key's creation, change or
    removal, or that name no key (the first entry of a CreateKey operation).
    Both entries of one operation get the operation as their identity, so it
    is counted once."""
    method = METHODS.get(method_name.rsplit(".", 1)[-1])
    name = key_name_of(resource_name, request, response or {})
    if method is None or name is None:
        return None
    # Keys are named by project number; an entry may name the project by id.
    parts = name.split("/")
    parts[1] = project_numbers.get(parts[1], parts[1])
    return KeyEvent(
        insert_id=f"operation:{operation_id}" if operation_id else insert_id,
        key_name="/".join(parts),
        at=at.astimezone(UTC),
        method=method,
        principal=principal or None,
        restrictions_removed=method == "UpdateKey" and restrictions_removed(request),
        caller_ip=caller_ip[:_ADDRESS_MAX] if caller_ip else None,
    )


def once_per_operation(events: Iterable[KeyEvent]) -> list[KeyEvent]:
    """One event per identity: an operation's two entries become the earlier
    one, removing restrictions if either says so."""
    found: dict[str, KeyEvent] = {}
    for event in events:
        seen = found.get(event.insert_id)
        if seen is None:
            found[event.insert_id] = event
        elif event.restrictions_removed and not seen.restrictions_removed:
            found[event.insert_id] = replace(seen, restrictions_removed=True)
    return list(found.values())
