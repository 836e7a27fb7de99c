"""The one module that talks to Cloud Logging: Admin Activity audit entries of
apikeys.googleapis.com (the v2 and v1 methods in scanner.sources.audit.events) for
the scanned projects, with an explicit time window in every filter (the
high-level client would otherwise add a 24-hour one)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from google.api_core import retry as gretry
from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.types import ListLogEntriesRequest
from google.protobuf import json_format

from scanner.calls.google_errors import TRANSIENT, default_credentials, google_errors
from scanner.config import AuditConfig
from scanner.core.errors import SourceError
from scanner.core.models import KeyEvent, ProjectRecord
from scanner.sources.audit.events import METHODS, key_event, once_per_operation


def make_client() -> LoggingServiceV2Client:
    credentials = default_credentials("audit", "logging.read")
    return LoggingServiceV2Client(credentials=credentials)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_filter(since: datetime, until: datetime) -> str:
    methods = " OR ".join(f'protoPayload.methodName:"{m}"' for m in sorted(METHODS))
    return (
        'logName:"cloudaudit.googleapis.com%2Factivity" '
        'AND protoPayload.serviceName="apikeys.googleapis.com" '
        f"AND ({methods}) "
        f'AND timestamp>="{_stamp(since)}" AND timestamp<"{_stamp(until)}"'
    )


class AuditLogReader:
    def __init__(self, client: LoggingServiceV2Client, config: AuditConfig) -> None:
        self._client = client
        self._config = config
        self.errors: dict[str, str] = {}

    def read(
        self, projects: Iterable[ProjectRecord], since: datetime, until: datetime
    ) -> list[KeyEvent]:
        ids = {p.project_id: p.number for p in projects if p.project_id}
        names = [f"projects/{pid}" for pid in sorted(ids)]
        size = self._config.projects_per_request
        events: list[KeyEvent] = []
        for start in range(0, len(names), size):
            batch = names[start : start + size]
            try:
                events.extend(self._read_batch(batch, since, until, ids))
            except SourceError as exc:
                self.errors[", ".join(batch[:3]) + ("..." if len(batch) > 3 else "")] = str(exc)
        return events

    def _read_batch(
        self, names: list[str], since: datetime, until: datetime, ids: dict[str, str]
    ) -> Iterator[KeyEvent]:
        request = ListLogEntriesRequest(
            resource_names=names,
            filter=audit_filter(since, until),
            order_by="timestamp asc",
            page_size=1000,
        )
        retry = gretry.Retry(
            predicate=gretry.if_exception_type(*TRANSIENT),
            initial=1.0,
            maximum=16.0,
            timeout=self._config.retry_deadline_seconds,
        )
        where = f"audit logs of {names[0]}{' and others' if len(names) > 1 else ''}"
        found: list[KeyEvent] = []
        needs = "roles/logging.viewer"
        with google_errors(where, needs, self._config.retry_deadline_seconds):
            pager = self._client.list_log_entries(
                request=request, retry=retry, timeout=self._config.request_timeout_seconds
            )
            for entry in pager:
                event = self._event(entry, ids)
                if event is not None:
                    found.append(event)
        return iter(once_per_operation(found))

    @staticmethod
    def _event(entry: Any, ids: dict[str, str]) -> KeyEvent | None:
        log = audit_log_pb2.AuditLog()
        if not type(entry).pb(entry).proto_payload.Unpack(log):
            return None
        request = json_format.MessageToDict(log.request) if log.HasField("request") else {}
        response = json_format.MessageToDict(log.response) if log.HasField("response") else {}
        stamp = entry.timestamp
        at = stamp if isinstance(stamp, datetime) else stamp.ToDatetime(tzinfo=UTC)
        return key_event(
            entry.insert_id,
            at,
            log.method_name,
            log.resource_name,
            log.authentication_info.principal_email,
            request,
            ids,
            response,
            entry.operation.id or None,
        )
