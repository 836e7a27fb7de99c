"""Cloud Asset feeds on loopback, over the real gRPC protocol of
google.cloud.asset.v1.AssetService (googleapis google/cloud/asset/v1/
asset_service.proto): GetFeed, CreateFeed (parent and feed_id; a feed that
exists is ALREADY_EXISTS) and UpdateFeed (the fields of the update mask).
Fault: every call PERMISSION_DENIED (a caller without cloudasset.feeds.*)."""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import asset_v1
from google.cloud.asset_v1.services.asset_service.transports import AssetServiceGrpcTransport

SERVICE = "google.cloud.asset.v1.AssetService"
FeedPb = type(asset_v1.Feed.pb(asset_v1.Feed()))
GetPb = type(asset_v1.GetFeedRequest.pb(asset_v1.GetFeedRequest()))
CreatePb = type(asset_v1.CreateFeedRequest.pb(asset_v1.CreateFeedRequest()))
UpdatePb = type(asset_v1.UpdateFeedRequest.pb(asset_v1.UpdateFeedRequest()))


@dataclass
class FakeFeeds:
    feeds: dict[str, Any] = field(default_factory=dict)  # name -> Feed pb
    calls: list[tuple[str, str]] = field(default_factory=list)
    denied: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _refuse(self, method: str, name: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls.append((method, name))
        if self.denied:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "The caller does not have permission")

    def get_feed(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refuse("GetFeed", request.name, context)
        found = self.feeds.get(request.name)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Feed {request.name} not found")
        return found

    def create_feed(self, request: Any, context: grpc.ServicerContext) -> Any:
        name = f"{request.parent}/feeds/{request.feed_id}"
        self._refuse("CreateFeed", name, context)
        if not request.feed.asset_types and not request.feed.asset_names:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "asset_names or asset_types needed")
        if not request.feed.feed_output_config.pubsub_destination.topic:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a Pub/Sub topic is needed")
        with self._lock:
            if name in self.feeds:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"Feed {name} already exists")
            feed = FeedPb()
            feed.CopyFrom(request.feed)
            feed.name = name
            self.feeds[name] = feed
        return feed

    def update_feed(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._refuse("UpdateFeed", request.feed.name, context)
        with self._lock:
            held = self.feeds.get(request.feed.name)
            if held is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Feed {request.feed.name} not found")
            if not request.update_mask.paths:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "update_mask is required")
            for path in request.update_mask.paths:
                if path == "asset_types":
                    del held.asset_types[:]
                    held.asset_types.extend(request.feed.asset_types)
                elif path == "content_type":
                    held.content_type = request.feed.content_type
                elif path == "feed_output_config":
                    held.feed_output_config.CopyFrom(request.feed.feed_output_config)
                else:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot update {path}")
        return held


class FakeFeedsServer:
    def __init__(self, fake: FakeFeeds) -> None:
        self.fake = fake
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        methods = {
            "GetFeed": (fake.get_feed, GetPb),
            "CreateFeed": (fake.create_feed, CreatePb),
            "UpdateFeed": (fake.update_feed, UpdatePb),
        }
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                name: grpc.unary_unary_rpc_method_handler(
                    method,
                    request_deserializer=request.FromString,
                    response_serializer=FeedPb.SerializeToString,
                )
                for name, (method, request) in methods.items()
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.address = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"

    def __enter__(self) -> FakeFeedsServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def client(self) -> asset_v1.AssetServiceClient:
        channel = grpc.insecure_channel(self.address)
        return asset_v1.AssetServiceClient(transport=AssetServiceGrpcTransport(channel=channel))
