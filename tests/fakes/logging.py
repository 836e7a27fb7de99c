"""A Cloud Logging LoggingServiceV2 speaking the real gRPC protocol on
loopback: ListLogEntries over audit entries of API keys (Admin Activity, and
Data Access for GetKeyString), filtered by the log, methods and time window
the request names, with page tokens and faults."""

from __future__ import annotations

import re
import threading
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.cloud.audit import audit_log_pb2
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.services.logging_service_v2.transports import (
    LoggingServiceV2GrpcTransport,
)
from google.cloud.logging_v2.types import ListLogEntriesRequest, ListLogEntriesResponse, LogEntry
from google.protobuf import json_format

from tests.fakes.monitoring import ProjectFault

SERVICE = "google.logging.v2.LoggingServiceV2"
RequestPb = type(ListLogEntriesRequest.pb(ListLogEntriesRequest()))
ResponsePb = type(ListLogEntriesResponse.pb(ListLogEntriesResponse()))
EntryPb = type(LogEntry.pb(LogEntry()))
_WINDOW = re.compile(r'timestamp>="([^"]+)" AND timestamp<"([^"]+)"')
_METHOD = re.compile(r'protoPayload\.methodName:"([^"]+)"')
_LOG = re.compile(r'logName:"([^"]+)"')
# Where Cloud Audit Logs writes each kind of entry.
DATA_ACCESS = "cloudaudit.googleapis.com%2Fdata_access"
ACTIVITY = "cloudaudit.googleapis.com%2Factivity"


@dataclass(frozen=True)
class Change:
    project_id: str
    key_name: str  # as the entry names it (projects/<id or number>/.../keys/<uid>)
    method: str
    principal: str
    at: datetime
    request: dict[str, Any] = field(default_factory=dict)
    caller_ip: str | None = None

    @property
    def log(self) -> str:
        return DATA_ACCESS if self.method == "GetKeyString" else ACTIVITY


def entry(change: Change, number: int) -> Any:
    log = audit_log_pb2.AuditLog()
    log.service_name = "apikeys.googleapis.com"
    log.method_name = f"google.api.apikeys.v2.ApiKeys.{change.method}"
    log.resource_name = change.key_name
    log.authentication_info.principal_email = change.principal
    if change.request:
        json_format.ParseDict(change.request, log.request)
    if change.caller_ip:
        log.request_metadata.caller_ip = change.caller_ip
    pb = EntryPb()
    pb.log_name = f"projects/{change.project_id}/logs/{change.log}"
    pb.insert_id = f"entry-{number}"
    pb.timestamp.FromDatetime(change.at.astimezone(UTC).replace(tzinfo=None))
    pb.proto_payload.Pack(log)
    return pb


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def raw_entry(document: dict[str, Any]) -> Any:
    """An entry as `gcloud logging read --format=json` prints it (the LogEntry
    JSON mapping, protoPayload an AuditLog), as the protocol carries it."""
    pb = EntryPb()
    json_format.ParseDict(document, pb)
    return pb


def _at(pb: Any) -> datetime:
    return pb.timestamp.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


@dataclass
class FakeLogging:
    changes: list[Change]
    faults: list[ProjectFault] = field(default_factory=list)  # as the Monitoring fake's
    requests: list[Any] = field(default_factory=list)
    # Entries in the real JSON shape (tests/data/real), served as they are where
    # the filter's methods and window match, as Cloud Logging would.
    documents: list[dict[str, Any]] = field(default_factory=list)
    # Logs whose reading is refused (PERMISSION_DENIED), as for a caller
    # without roles/logging.privateLogViewer on the Data Access log.
    refused_logs: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def list_log_entries(self, request: Any, context: grpc.ServicerContext) -> Any:
        names = set(request.resource_names)
        with self._lock:
            self.requests.append(request)
            for fault in self.faults:
                if fault.project in names and fault.times != 0:
                    fault.times -= 1
                    context.abort(fault.code, f"injected fault for {fault.project}")
        if any(f'logName:"{log}"' in request.filter for log in self.refused_logs):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "logging.privateLogEntries.list")
        window = _WINDOW.search(request.filter)
        if window is None or "apikeys.googleapis.com" not in request.filter:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an explicit time window is required")
        since, until = _parse(window.group(1)), _parse(window.group(2))
        methods = _METHOD.findall(request.filter)
        logs = _LOG.findall(request.filter)
        matching = []
        for pb in [entry(c, i) for i, c in enumerate(self.changes)] + [
            raw_entry(d) for d in self.documents
        ]:
            log = audit_log_pb2.AuditLog()
            pb.proto_payload.Unpack(log)
            project = pb.log_name.split("/")[1]
            wanted = any(m in log.method_name for m in methods) and any(
                pb.log_name.endswith(f"/logs/{name}") for name in logs
            )
            if wanted and f"projects/{project}" in names and since <= _at(pb) < until:
                matching.append(pb)
        size = 2  # small pages, whatever was asked: the client must page
        start = int(request.page_token or 0)
        response = ResponsePb()
        response.entries.extend(matching[start : start + size])
        if start + size < len(matching):
            response.next_page_token = str(start + size)
        return response


class FakeLoggingServer:
    def __init__(self, fake: FakeLogging) -> None:
        self.fake = fake
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "ListLogEntries": grpc.unary_unary_rpc_method_handler(
                    fake.list_log_entries,
                    request_deserializer=RequestPb.FromString,
                    response_serializer=ResponsePb.SerializeToString,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"

    def __enter__(self) -> FakeLoggingServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def client(self) -> LoggingServiceV2Client:
        channel = grpc.insecure_channel(self.address)
        return LoggingServiceV2Client(transport=LoggingServiceV2GrpcTransport(channel=channel))
