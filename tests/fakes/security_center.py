"""A Security Command Center v2 server speaking the real gRPC protocol on
loopback, for the findings of one custom source: UpdateFinding (create, or
replace every mutable field, or only the fields of the update mask) and
SetMute, as googleapis google/cloud/securitycenter/v2/securitycenter_service.proto
describes them: a finding id is 1 to 32 alphanumerics, its source must exist,
a mask is for updates only. Faults: the first N calls answer UNAVAILABLE; after N calls, every one
PERMISSION_DENIED (a sync that stops part-way)."""

from __future__ import annotations

import re
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import securitycenter_v2
from google.cloud.securitycenter_v2.services.security_center.transports import (
    SecurityCenterGrpcTransport,
)

SERVICE = "google.cloud.securitycenter.v2.SecurityCenter"
FindingPb = type(securitycenter_v2.Finding.pb(securitycenter_v2.Finding()))
UpdatePb = type(securitycenter_v2.UpdateFindingRequest.pb(securitycenter_v2.UpdateFindingRequest()))
MutePb = type(securitycenter_v2.SetMuteRequest.pb(securitycenter_v2.SetMuteRequest()))
_NAME = re.compile(r"(organizations/\d+/sources/[^/]+)/locations/([^/]+)/findings/([^/]+)")
_ID = re.compile(r"[0-9A-Za-z]{1,32}")


@dataclass
class FakeSecurityCenter:
    sources: set[str]
    findings: dict[str, Any] = field(default_factory=dict)  # name -> Finding pb
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, finding name)
    unavailable: int = 0  # calls to refuse with UNAVAILABLE before serving
    denied_after: int | None = None  # calls served before every call is PERMISSION_DENIED
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _refused(self, context: grpc.ServicerContext) -> None:
        with self._lock:
            if self.denied_after is not None and len(self.calls) >= self.denied_after:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "injected: not allowed")
            if self.unavailable > 0:
                self.unavailable -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "injected: try again")

    def update_finding(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refused(context)
        name = request.finding.name
        found = _NAME.fullmatch(name)
        if found is None or not _ID.fullmatch(found.group(3)):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad finding name {name!r}")
        if found.group(1) not in self.sources:
            context.abort(grpc.StatusCode.NOT_FOUND, f"source {found.group(1)} not found")
        with self._lock:
            self.calls.append(("UpdateFinding", name))
            stored = self.findings.get(name)
            paths = list(request.update_mask.paths)
            if stored is None:
                if paths:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"finding {name} not found")
                stored = FindingPb()
                stored.CopyFrom(request.finding)
                stored.mute = securitycenter_v2.Finding.Mute.UNDEFINED
            elif not paths:
                mute = stored.mute
                stored.CopyFrom(request.finding)
                stored.mute = mute  # mute is SetMute's alone
            else:
                for path in paths:
                    if path != "state":
                        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"mask path {path}")
                    stored.state = request.finding.state
            self.findings[name] = stored
            answer = FindingPb()
            answer.CopyFrom(stored)
            return answer

    def set_mute(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refused(context)
        with self._lock:
            self.calls.append(("SetMute", request.name))
            stored = self.findings.get(request.name)
            if stored is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"finding {request.name} not found")
            stored.mute = request.mute
            answer = FindingPb()
            answer.CopyFrom(stored)
            return answer


class FakeSecurityCenterServer:
    def __init__(self, fake: FakeSecurityCenter) -> None:
        self.fake = fake
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "UpdateFinding": grpc.unary_unary_rpc_method_handler(
                    fake.update_finding,
                    request_deserializer=UpdatePb.FromString,
                    response_serializer=FindingPb.SerializeToString,
                ),
                "SetMute": grpc.unary_unary_rpc_method_handler(
                    fake.set_mute,
                    request_deserializer=MutePb.FromString,
                    response_serializer=FindingPb.SerializeToString,
                ),
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"

    def __enter__(self) -> FakeSecurityCenterServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def client(self) -> securitycenter_v2.SecurityCenterClient:
        channel = grpc.insecure_channel(self.address)
        return securitycenter_v2.SecurityCenterClient(
            transport=SecurityCenterGrpcTransport(channel=channel)
        )
