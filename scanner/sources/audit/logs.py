"""The one module that talks to Cloud Logging: the audit entries of
apikeys.googleapis.com (the methods in scanner.sources.audit.events) for the
scanned projects, with an explicit time window in every filter (the
high-level client would otherwise add a 24-hour one).

Two reads per batch of projects: the Admin Activity log (roles/logging.viewer)
and the Data Access log for GetKeyString (roles/logging.privateLogViewer, and
Data Access audit logs enabled for the API Keys API). A refused Data Access
read is recorded as that source's error; the Admin Activity events stand."""

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
from scanner.sources.audit.events import (
    DATA_ACCESS_METHODS,
    METHODS,
    key_event,
    once_per_operation,
)

ACTIVITY_LOG = "cloudaudit.googleapis.com%2Factivity"
DATA_ACCESS_LOG = "cloudaudit.googleapis.com%2Fdata_access"


def make_client() -> LoggingServiceV2Client:
    credentials = default_credentials("audit", "logging.read")
    return LoggingServiceV2Client(credentials=credentials)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_filter(since: datetime, until: datetime, log: str = ACTIVITY_LOG) -> str:
    """The entries of LOG for the methods it holds. `:` matches a part of the
    name, so each short name also finds the v1 and v2beta1 ones."""
    wanted = DATA_ACCESS_METHODS if log == DATA_ACCESS_LOG else set(METHODS) - DATA_ACCESS_METHODS
    methods = " OR ".join(f'protoPayload.methodName:"{m}"' for m in sorted(wanted))
    return (
        f'logName:"{log}" '
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
            shown = ", ".join(batch[:3]) + ("..." if len(batch) > 3 else "")
            for log, needs, label in (
                (ACTIVITY_LOG, "roles/logging.viewer", shown),
                (DATA_ACCESS_LOG, "roles/logging.privateLogViewer", f"{shown} (Data Access)"),
            ):
                try:
                    events.extend(self._read_batch(batch, since, until, ids, log, needs))
                except SourceError as exc:
                    self.errors[label] = str(exc)
        return events

    def _read_batch(
        self,
        names: list[str],
        since: datetime,
        until: datetime,
        ids: dict[str, str],
        log: str,
        needs: str,
    ) -> Iterator[KeyEvent]:
        request = ListLogEntriesRequest(
            resource_names=names,
            filter=audit_filter(since, until, log),
            order_by="timestamp asc",
            page_size=1000,
        )
        retry = gretry.Retry(
            predicate=gretry.if_exception_type(*TRANSIENT),
            initial=1.0,
            maximum=16.0,
            timeout=self._config.retry_deadline_seconds,
        )
        kind = "Data Access audit logs" if log == DATA_ACCESS_LOG else "audit logs"
        where = f"{kind} of {names[0]}{' and others' if len(names) > 1 else ''}"
        found: list[KeyEvent] = []
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
            log.request_metadata.caller_ip or None,
        )
