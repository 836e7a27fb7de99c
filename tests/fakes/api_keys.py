"""An API Keys service speaking the real gRPC protocol on loopback: LookupKey
over a table of key strings, with faults. It keeps only a count of the
strings it was asked, never the strings."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud.api_keys_v2 import ApiKeysClient, LookupKeyRequest, LookupKeyResponse
from google.cloud.api_keys_v2.services.api_keys.transports import ApiKeysGrpcTransport

SERVICE = "google.api.apikeys.v2.ApiKeys"
RequestPb = type(LookupKeyRequest.pb(LookupKeyRequest()))
ResponsePb = type(LookupKeyResponse.pb(LookupKeyResponse()))


@dataclass
class Fault:
    code: grpc.StatusCode
    times: int  # -1: always


@dataclass
class FakeApiKeys:
    # key string -> (name, parent); name "" for a purged key
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)  # strings of projects that refuse lookup
    faults: list[Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)  # by outcome
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lookup_key(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.calls["total"] += 1
            for fault in self.faults:
                if fault.times != 0:
                    fault.times -= 1
                    # The message echoes the string, as a careless server might:
                    # keysentry must scrub what it repeats.
                    context.abort(fault.code, f"injected fault for {request.key_string}")
        if request.key_string in self.denied:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "apikeys.keys.lookup denied")
        found = self.keys.get(request.key_string)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such key")
        response = ResponsePb()
        response.name, response.parent = found
        return response


class FakeApiKeysServer:
    def __init__(self, fake: FakeApiKeys) -> None:
        self.fake = fake
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "LookupKey": grpc.unary_unary_rpc_method_handler(
                    fake.lookup_key,
                    request_deserializer=RequestPb.FromString,
                    response_serializer=ResponsePb.SerializeToString,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"

    def __enter__(self) -> FakeApiKeysServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def client(self) -> ApiKeysClient:
        channel = grpc.insecure_channel(self.address)
        return ApiKeysClient(transport=ApiKeysGrpcTransport(channel=channel))
