"""A Cloud Asset Inventory server speaking the real gRPC protocol on loopback.

It serves ListAssets from a list of export-style envelopes, pages them with
opaque page tokens, and can fail chosen pages with chosen status codes."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import asset_v1
from google.cloud.asset_v1.services.asset_service.transports import AssetServiceGrpcTransport
from google.protobuf import json_format, struct_pb2

SERVICE = "google.cloud.asset.v1.AssetService"


def asset_from_envelope(envelope: dict[str, Any]) -> asset_v1.Asset:
    resource = envelope.get("resource") or {}
    data = struct_pb2.Struct()
    json_format.ParseDict(resource.get("data") or {}, data)
    pb = asset_v1.Asset.pb(asset_v1.Asset())
    pb.name = envelope["name"]
    pb.asset_type = envelope["asset_type"]
    pb.resource.version = resource.get("version", "v1")
    pb.resource.discovery_name = resource.get("discovery_name", "")
    pb.resource.parent = resource.get("parent", "")
    pb.resource.data.CopyFrom(data)
    pb.ancestors.extend(envelope.get("ancestors") or [])
    return asset_v1.Asset.wrap(pb)


@dataclass
class Fault:
    """Fail the Nth page (0-based, counted per asset-type query) TIMES times."""

    page: int
    code: grpc.StatusCode
    times: int = 1
    asset_type: str | None = None  # only queries including this type


@dataclass
class FakeCloudAsset:
    envelopes: list[dict[str, Any]]
    faults: list[Fault] = field(default_factory=list)
    requests: list[asset_v1.ListAssetsRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._assets = [(e["asset_type"], asset_from_envelope(e)) for e in self.envelopes]

    def list_assets(
        self, request: asset_v1.ListAssetsRequest, context: grpc.ServicerContext
    ) -> asset_v1.ListAssetsResponse:
        with self._lock:
            self.requests.append(request)
        if request.content_type != asset_v1.ContentType.RESOURCE:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "only RESOURCE is served")
        if not request.parent:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "parent is required")
        wanted = set(request.asset_types)
        matching = [a for t, a in self._assets if not wanted or t in wanted]
        size = request.page_size or 100
        start = int(request.page_token or 0)
        page = start // size
        for fault in self.faults:
            applies = fault.asset_type is None or fault.asset_type in wanted
            if applies and fault.page == page and fault.times != 0:
                with self._lock:
                    fault.times -= 1
                context.abort(fault.code, f"injected fault on page {page}")
        chunk = matching[start : start + size]
        next_token = str(start + size) if start + size < len(matching) else ""
        return asset_v1.ListAssetsResponse(assets=chunk, next_page_token=next_token)


class FakeServer:
    """Runs a FakeCloudAsset on 127.0.0.1; use as a context manager."""

    def __init__(self, fake: FakeCloudAsset) -> None:
        self.fake = fake
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "ListAssets": grpc.unary_unary_rpc_method_handler(
                    fake.list_assets,
                    request_deserializer=asset_v1.ListAssetsRequest.deserialize,
                    response_serializer=asset_v1.ListAssetsResponse.serialize,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def client(self) -> asset_v1.AssetServiceClient:
        channel = grpc.insecure_channel(self.address)
        return asset_v1.AssetServiceClient(transport=AssetServiceGrpcTransport(channel=channel))


def serve(envelopes: Iterable[dict[str, Any]], faults: list[Fault] | None = None) -> FakeServer:
    return FakeServer(FakeCloudAsset(list(envelopes), faults or []))
