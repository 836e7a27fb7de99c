"""Key events from a saved audit log: the JSON array that
`gcloud logging read 'protoPayload.serviceName="apikeys.googleapis.com"' --format=json`
prints (optionally gzipped, UTF-8 or UTF-16), for offline scans, read an entry
at a time. Admin Activity and Data Access entries (GetKeyString) may come in
one file or in several."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from scanner.core.errors import InputError
from scanner.core.models import KeyEvent, ProjectRecord
from scanner.inputs import jsonstream
from scanner.inputs.fields import AssetDataError, parse_time
from scanner.sources.audit.events import key_event, once_per_operation


class FileAuditSource:
    def __init__(self, paths: list[Path]) -> None:
        self._paths = paths
        self.errors: dict[str, str] = {}

    def read(
        self, projects: Iterable[ProjectRecord], since: datetime, until: datetime
    ) -> list[KeyEvent]:
        """Every key event in the files up to UNTIL (stored once each, so the
        window does not matter)."""
        ids = {p.project_id: p.number for p in projects if p.project_id}
        events = []
        for path in self._paths:
            entries = jsonstream.array(path, "expected the JSON array `gcloud logging read` prints")
            for index, (line, entry) in enumerate(entries, start=1):
                event = _event(f"{path}:{line}: entry {index}", entry, ids)
                if event is not None and event.at < until:
                    events.append(event)
        return once_per_operation(events)


def _event(where: str, entry: Any, ids: dict[str, str]) -> KeyEvent | None:
    payload = entry.get("protoPayload") if isinstance(entry, dict) else None
    if not isinstance(payload, dict):
        return None
    try:
        at = parse_time(entry.get("timestamp"), "timestamp")
    except AssetDataError as exc:
        raise InputError(f"{where}: {exc}") from None
    if at is None or not isinstance(entry.get("insertId"), str):
        raise InputError(f"{where}: needs insertId and timestamp")
    auth = payload.get("authenticationInfo") or {}
    metadata = payload.get("requestMetadata")
    caller_ip = metadata.get("callerIp") if isinstance(metadata, dict) else None
    request = payload.get("request")
    response = payload.get("response")
    operation = entry.get("operation")
    operation_id = operation.get("id") if isinstance(operation, dict) else None
    return key_event(
        entry["insertId"],
        at,
        str(payload.get("methodName", "")),
        str(payload.get("resourceName", "")),
        auth.get("principalEmail") if isinstance(auth, dict) else None,
        request if isinstance(request, dict) else {},
        ids,
        response if isinstance(response, dict) else {},
        operation_id if isinstance(operation_id, str) else None,
        caller_ip if isinstance(caller_ip, str) else None,
    )
