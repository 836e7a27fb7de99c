"""A Cloud Asset Inventory server speaking the real gRPC protocol on loopback.

It serves ListAssets from export-style envelopes, pages them with opaque page
tokens, and can fail chosen pages with chosen status codes. The tests run it
in-process; the benchmarks run it as a separate process:

    python -m tests.fakes.cloud_asset --export org.jsonl
    python -m tests.fakes.cloud_asset --keys 100000 --projects 5000 [--seed 1]

print the address it listens on, then serve until standard input closes."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.cloud import asset_v1
from google.cloud.asset_v1.services.asset_service.transports import AssetServiceGrpcTransport
from google.protobuf import json_format

SERVICE = "google.cloud.asset.v1.AssetService"
AssetPb = type(asset_v1.Asset.pb(asset_v1.Asset()))
ListRequestPb = type(asset_v1.ListAssetsRequest.pb(asset_v1.ListAssetsRequest()))
ListResponsePb = type(asset_v1.ListAssetsResponse.pb(asset_v1.ListAssetsResponse()))
RESOURCE = asset_v1.ContentType.RESOURCE.value
IAM_POLICY = asset_v1.ContentType.IAM_POLICY.value


def content_type_of(envelope: dict[str, Any]) -> int:
    return IAM_POLICY if "iam_policy" in envelope else RESOURCE


def asset_from_envelope(envelope: dict[str, Any]) -> Any:
    """The protobuf Asset for an export envelope (a resource or an IAM policy)."""
    pb = AssetPb()
    pb.name = envelope["name"]
    pb.asset_type = envelope["asset_type"]
    pb.ancestors.extend(envelope.get("ancestors") or [])
    if "iam_policy" in envelope:
        json_format.ParseDict(envelope["iam_policy"], pb.iam_policy)
        return pb
    resource = envelope.get("resource") or {}
    pb.resource.version = resource.get("version", "v1")
    pb.resource.discovery_name = resource.get("discovery_name", "")
    pb.resource.parent = resource.get("parent", "")
    json_format.ParseDict(resource.get("data") or {}, pb.resource.data)
    return pb


@dataclass
class Fault:
    """Fail the Nth page (0-based, counted per asset-type query) TIMES times (-1: always)."""

    page: int
    code: grpc.StatusCode
    times: int = 1
    asset_type: str | None = None  # only queries including this type


@dataclass
class Gate:
    """Hold the Nth page of queries for ASSET_TYPE until released: a test can
    act while a scan is provably in the middle of reading."""

    page: int
    asset_type: str = "apikeys.googleapis.com/Key"
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class FakeCloudAsset:
    envelopes: Iterable[dict[str, Any]]
    faults: list[Fault] = field(default_factory=list)
    page_latency: float = 0.0  # seconds each page takes, as the real API's pacing
    gates: list[Gate] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._assets = [
            (e["asset_type"], content_type_of(e), asset_from_envelope(e)) for e in self.envelopes
        ]
        self.envelopes = []
        self._matching: dict[tuple[int, tuple[str, ...]], list[Any]] = {}

    def _select(self, content_type: int, asset_types: tuple[str, ...]) -> list[Any]:
        query = (content_type, asset_types)
        with self._lock:
            if query not in self._matching:
                wanted = set(asset_types)
                self._matching[query] = [
                    a
                    for t, c, a in self._assets
                    if c == content_type and (not wanted or t in wanted)
                ]
            return self._matching[query]

    def list_assets(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.requests.append(request)
        if request.content_type not in (RESOURCE, IAM_POLICY):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "only RESOURCE and IAM_POLICY")
        if not request.parent:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "parent is required")
        asset_types = tuple(request.asset_types)
        size = request.page_size or 100
        start = int(request.page_token or 0)
        page = start // size
        for fault in self.faults:
            applies = fault.asset_type is None or fault.asset_type in asset_types
            if applies and fault.page == page and fault.times != 0:
                with self._lock:
                    fault.times -= 1
                context.abort(fault.code, f"injected fault on page {page}")
        for gate in self.gates:
            if gate.page == page and gate.asset_type in asset_types:
                gate.reached.set()
                gate.release.wait()
        matching = self._select(request.content_type, asset_types)
        if self.page_latency:
            time.sleep(self.page_latency)  # the simulated service's own pace
        response = ListResponsePb()
        response.assets.extend(matching[start : start + size])
        if start + size < len(matching):
            response.next_page_token = str(start + size)
        return response


class FakeServer:
    """Runs a FakeCloudAsset on 127.0.0.1; use as a context manager."""

    def __init__(self, fake: FakeCloudAsset, port: int = 0) -> None:
        self.fake = fake
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "ListAssets": grpc.unary_unary_rpc_method_handler(
                    fake.list_assets,
                    request_deserializer=ListRequestPb.FromString,
                    response_serializer=ListResponsePb.SerializeToString,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def client(self) -> asset_v1.AssetServiceClient:
        return client_for(self.address)


def client_for(address: str) -> asset_v1.AssetServiceClient:
    """The real client, over an insecure channel to ADDRESS."""
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    channel = grpc.insecure_channel(address, options=options)
    return asset_v1.AssetServiceClient(transport=AssetServiceGrpcTransport(channel=channel))


def serve(envelopes: Iterable[dict[str, Any]], faults: list[Fault] | None = None) -> FakeServer:
    return FakeServer(FakeCloudAsset(envelopes, faults or []))


def _read_export(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Cloud Asset Inventory.")
    parser.add_argument("--export", type=Path, help="newline-delimited export to serve")
    parser.add_argument("--keys", type=int, help="serve a synthetic organization instead")
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changed-fraction", type=float, default=0.0)
    parser.add_argument(
        "--page-latency",
        type=float,
        default=0.0,
        help="seconds per page; 0.6 paces at ListAssets' default quota",
    )
    args = parser.parse_args()
    if args.export is not None:
        envelopes: Iterable[dict[str, Any]] = _read_export(args.export)
    else:
        from benchmarks.synth import organization

        envelopes = organization(args.keys, args.projects, args.seed, args.changed_fraction)
    with FakeServer(FakeCloudAsset(envelopes, page_latency=args.page_latency)) as server:
        print(server.address, flush=True)
        sys.stdin.read()  # serve until the parent closes our standard input


if __name__ == "__main__":
    main()
