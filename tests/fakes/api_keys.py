"""An API Keys service speaking the real gRPC protocol on loopback: LookupKey
over a table of key strings, with faults (it keeps only a count of the
strings it was asked, never the strings); and GetKey and UpdateKey over Key
resources with etags, UpdateKey as a long-running operation polled through
google.longrunning.Operations, as googleapis google/api/apikeys/v2/apikeys.proto
declares them. An etag that does not match fails with ABORTED (AIP-154)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud.api_keys_v2 import (
    ApiKeysClient,
    GetKeyRequest,
    Key,
    LookupKeyRequest,
    LookupKeyResponse,
    UpdateKeyRequest,
)
from google.cloud.api_keys_v2.services.api_keys.transports import ApiKeysGrpcTransport
from google.longrunning import operations_pb2

SERVICE = "google.api.apikeys.v2.ApiKeys"
OPERATIONS = "google.longrunning.Operations"
RequestPb = type(LookupKeyRequest.pb(LookupKeyRequest()))
ResponsePb = type(LookupKeyResponse.pb(LookupKeyResponse()))
GetKeyPb = type(GetKeyRequest.pb(GetKeyRequest()))
UpdateKeyPb = type(UpdateKeyRequest.pb(UpdateKeyRequest()))
KeyPb = type(Key.pb(Key()))


@dataclass
class Fault:
    code: grpc.StatusCode
    times: int  # -1: always
    method: str = "LookupKey"
    key: str | None = None  # only calls about this key name; None: any


@dataclass
class FakeApiKeys:
    # key string -> (name, parent); name "" for a purged key
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)  # strings of projects that refuse lookup
    faults: list[Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)  # by outcome
    # Key resources by name, for GetKey and UpdateKey.
    resources: dict[str, Any] = field(default_factory=dict)
    polls: int = 1  # GetOperation calls before an update is done
    # Keys someone else changes right after a GetKey: the etag moves under the caller.
    changed_after_get: set[str] = field(default_factory=set)
    updates: list[Any] = field(default_factory=list)  # UpdateKey requests, in order
    polled: threading.Event = field(default_factory=threading.Event)  # a GetOperation came
    _operations: dict[str, tuple[int, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_key(self, name: str, etag: str, restrictions: dict[str, Any] | None = None) -> None:
        """A key resource; ETAG as W/"<anything>-<n>", which each change counts up."""
        key = Key(name=name, uid=name.rsplit("/", 1)[-1], etag=etag)
        if restrictions:
            key.restrictions = restrictions
        self.resources[name] = Key.pb(key)

    def _fault(self, method: str, key: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.key in (None, key) and fault.times != 0:
                    fault.times -= 1
                    context.abort(fault.code, f"injected fault on {method} {key}")

    def _stored(self, name: str, context: grpc.ServicerContext) -> Any:
        found = self.resources.get(name)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"key {name} not found")
        return found

    @staticmethod
    def _next_etag(key: Any) -> None:
        stem, _, count = key.etag[:-1].rpartition("-")
        key.etag = f'{stem}-{int(count) + 1}"'

    def get_key(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls["GetKey"] += 1
        self._fault("GetKey", request.name, context)
        key = self._stored(request.name, context)
        answer = KeyPb()
        answer.CopyFrom(key)
        if request.name in self.changed_after_get:
            self.changed_after_get.discard(request.name)
            self._next_etag(key)
        return answer

    def update_key(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls["UpdateKey"] += 1
        self._fault("UpdateKey", request.key.name, context)
        key = self._stored(request.key.name, context)
        if request.key.etag and request.key.etag != key.etag:
            context.abort(grpc.StatusCode.ABORTED, "etag does not match the key's")
        if list(request.update_mask.paths) != ["restrictions"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "only restrictions are updated here")
        key.restrictions.CopyFrom(request.key.restrictions)
        self._next_etag(key)
        self.updates.append(request)
        done = KeyPb()
        done.CopyFrom(key)
        with self._lock:
            name = f"operations/akmf.p7-{len(self._operations) + 1}"
            self._operations[name] = (self.polls, done)
        return self._operation(name)

    def get_operation(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls["GetOperation"] += 1
        self.polled.set()
        return self._operation(request.name)

    def _operation(self, name: str) -> Any:
        with self._lock:
            left, key = self._operations[name]
            self._operations[name] = (left - 1, key)
        operation = operations_pb2.Operation(name=name, done=left <= 0)
        if left <= 0:
            operation.response.Pack(key)
        return operation

    def lookup_key(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.calls["total"] += 1
            for fault in self.faults:
                if fault.method == "LookupKey" and fault.times != 0:
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
                ),
                "GetKey": grpc.unary_unary_rpc_method_handler(
                    fake.get_key,
                    request_deserializer=GetKeyPb.FromString,
                    response_serializer=KeyPb.SerializeToString,
                ),
                "UpdateKey": grpc.unary_unary_rpc_method_handler(
                    fake.update_key,
                    request_deserializer=UpdateKeyPb.FromString,
                    response_serializer=operations_pb2.Operation.SerializeToString,
                ),
            },
        )
        operations = grpc.method_handlers_generic_handler(
            OPERATIONS,
            {
                "GetOperation": grpc.unary_unary_rpc_method_handler(
                    fake.get_operation,
                    request_deserializer=operations_pb2.GetOperationRequest.FromString,
                    response_serializer=operations_pb2.Operation.SerializeToString,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler, operations))
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
