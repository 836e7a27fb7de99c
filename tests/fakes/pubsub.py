"""A Pub/Sub subscription on loopback speaking the real gRPC protocol of
google.pubsub.v1.Subscriber (googleapis google/pubsub/v1/pubsub.proto):
StreamingPull (the first request names the subscription and the stream ack
deadline; answers carry ReceivedMessages with ack ids), Acknowledge and
ModifyAckDeadline (0 seconds: deliver again now), which is what
google-cloud-pubsub's streaming pull manager calls; and for `feed check`,
Subscriber.GetSubscription, Publisher.GetTopic and google.iam.v1.IAMPolicy's
GetIamPolicy and TestIamPermissions (google/iam/v1/iam_policy.proto). The
client reaches it through PUBSUB_EMULATOR_HOST, as it reaches Google's
emulator.

At least once, as Pub/Sub: a message not acknowledged before its deadline
is delivered again. Faults: the next N messages delivered twice; a batch
delivered in reverse order; a stream dropped with UNAVAILABLE after N
deliveries (the client opens another)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.iam.v1 import iam_policy_pb2, policy_pb2
from google.protobuf import empty_pb2, timestamp_pb2
from google.pubsub_v1 import types

SERVICE = "google.pubsub.v1.Subscriber"
PullRequest = type(types.StreamingPullRequest.pb(types.StreamingPullRequest()))
PullResponse = type(types.StreamingPullResponse.pb(types.StreamingPullResponse()))
AckRequest = type(types.AcknowledgeRequest.pb(types.AcknowledgeRequest()))
ModAckRequest = type(types.ModifyAckDeadlineRequest.pb(types.ModifyAckDeadlineRequest()))
GetSubscriptionPb = type(types.GetSubscriptionRequest.pb(types.GetSubscriptionRequest()))
SubscriptionPb = type(types.Subscription.pb(types.Subscription()))
GetTopicPb = type(types.GetTopicRequest.pb(types.GetTopicRequest()))
TopicPb = type(types.Topic.pb(types.Topic()))


@dataclass
class Message:
    message_id: str
    data: bytes
    published: float  # time.time()
    attempts: int = 0


@dataclass
class Faults:
    duplicate: int = 0  # deliver the next N messages twice
    reverse: bool = False  # deliver each batch in reverse order
    drop_stream_after: int = 0  # abort a stream with UNAVAILABLE after N deliveries (once)


@dataclass
class FakeSubscription:
    name: str  # projects/P/subscriptions/S
    topic: str = ""  # projects/P/topics/T, when it exists
    # The topic's IAM bindings (role -> members), and whether the caller may pull.
    topic_policy: dict[str, list[str]] = field(default_factory=dict)
    may_consume: bool = True
    faults: Faults = field(default_factory=Faults)
    pending: list[Message] = field(default_factory=list)  # to deliver
    outstanding: dict[str, tuple[Message, float]] = field(default_factory=dict)  # ack id ->
    acked: list[str] = field(default_factory=list)  # message ids, in order
    deliveries: int = 0
    streams: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, data: bytes) -> str:
        with self._changed:
            message = Message(str(next(self._ids)), data, time.time())
            self.pending.append(message)
            self._changed.notify_all()
            return message.message_id

    def unacked(self) -> int:
        with self._changed:
            return len(self.pending) + len({m.message_id for m, _ in self.outstanding.values()})

    def wait_acked(self, count: int, timeout: float) -> bool:
        """Whether COUNT distinct messages were acknowledged within TIMEOUT."""
        with self._changed:
            return self._changed.wait_for(lambda: len(set(self.acked)) >= count, timeout)

    def _due(self, limit: int) -> list[Message]:
        """Messages to deliver now, and those whose deadline passed again."""
        now = time.monotonic()
        for ack_id, (message, deadline) in list(self.outstanding.items()):
            if deadline <= now:
                del self.outstanding[ack_id]
                if message.message_id not in self.acked:
                    self.pending.append(message)
        taken, self.pending = self.pending[:limit], self.pending[limit:]
        return taken

    # --- the gRPC methods --------------------------------------------------

    def streaming_pull(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        first = next(requests)
        if first.subscription != self.name:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource not found ({first.subscription})")
        deadline = max(10, first.stream_ack_deadline_seconds or 10)
        limit = first.max_outstanding_messages or 1000
        closed = threading.Event()

        def drain() -> None:  # heartbeats and the client's half-close
            try:
                for _ in requests:
                    pass
            except grpc.RpcError:
                pass
            closed.set()
            with self._changed:
                self._changed.notify_all()

        threading.Thread(target=drain, daemon=True).start()
        sent = 0
        with self._changed:
            self.streams += 1
            drop_after = self.faults.drop_stream_after
            self.faults.drop_stream_after = 0
        while context.is_active() and not closed.is_set():
            with self._changed:
                mine = sum(1 for _, d in self.outstanding.values() if d > time.monotonic())
                batch = self._due(max(0, limit - mine)) if mine < limit else []
                if not batch:
                    self._changed.wait(0.05)
                    continue
                if self.faults.reverse:
                    batch.reverse()
                received = []
                for message in batch:
                    copies = 1
                    if self.faults.duplicate > 0:
                        self.faults.duplicate -= 1
                        copies = 2
                    for _ in range(copies):
                        message.attempts += 1
                        ack_id = f"ack-{message.message_id}-{next(self._ids)}"
                        self.outstanding[ack_id] = (message, time.monotonic() + deadline)
                        received.append((ack_id, message))
                self.deliveries += len(received)
            response = PullResponse()
            for ack_id, message in received:
                item = response.received_messages.add()
                item.ack_id = ack_id
                item.message.data = message.data
                item.message.message_id = message.message_id
                item.message.publish_time.CopyFrom(_timestamp(message.published))
            yield response
            sent += len(received)
            if drop_after and sent >= drop_after:
                context.abort(grpc.StatusCode.UNAVAILABLE, "injected: the stream was dropped")

    def acknowledge(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._check(request.subscription, context)
        with self._changed:
            for ack_id in request.ack_ids:
                held = self.outstanding.pop(ack_id, None)
                if held is not None:
                    self.acked.append(held[0].message_id)
                    for other, (message, _) in list(self.outstanding.items()):
                        if message.message_id == held[0].message_id:
                            del self.outstanding[other]  # an acked message's copies are done
            self._changed.notify_all()
        return empty_pb2.Empty()

    def modify_ack_deadline(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._check(request.subscription, context)
        with self._changed:
            for ack_id in request.ack_ids:
                held = self.outstanding.get(ack_id)
                if held is None:
                    continue
                if request.ack_deadline_seconds == 0:  # a nack: deliver again now
                    del self.outstanding[ack_id]
                    if held[0].message_id not in self.acked:
                        self.pending.insert(0, held[0])
                else:
                    self.outstanding[ack_id] = (
                        held[0],
                        time.monotonic() + request.ack_deadline_seconds,
                    )
            self._changed.notify_all()
        return empty_pb2.Empty()

    def get_subscription(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._check(request.subscription, context)
        return SubscriptionPb(name=self.name, topic=self.topic, ack_deadline_seconds=60)

    def get_topic(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not self.topic or request.topic != self.topic:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource not found ({request.topic})")
        return TopicPb(name=self.topic)

    def get_iam_policy(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.resource != self.topic:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource not found ({request.resource})")
        policy = policy_pb2.Policy(version=1, etag=b"BwYF")
        for role, members in sorted(self.topic_policy.items()):
            policy.bindings.add(role=role, members=members)
        return policy

    def test_iam_permissions(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.resource != self.name:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource not found ({request.resource})")
        granted = [p for p in request.permissions if self.may_consume]
        return iam_policy_pb2.TestIamPermissionsResponse(permissions=granted)

    def _check(self, subscription: str, context: grpc.ServicerContext) -> None:
        if subscription != self.name:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource not found ({subscription})")


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


class FakePubSubServer:
    """FAKE served on loopback; `host` is what PUBSUB_EMULATOR_HOST takes."""

    def __init__(self, fake: FakeSubscription) -> None:
        self.fake = fake
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "StreamingPull": grpc.stream_stream_rpc_method_handler(
                    fake.streaming_pull,
                    request_deserializer=PullRequest.FromString,
                    response_serializer=PullResponse.SerializeToString,
                ),
                "Acknowledge": grpc.unary_unary_rpc_method_handler(
                    fake.acknowledge,
                    request_deserializer=AckRequest.FromString,
                    response_serializer=empty_pb2.Empty.SerializeToString,
                ),
                "ModifyAckDeadline": grpc.unary_unary_rpc_method_handler(
                    fake.modify_ack_deadline,
                    request_deserializer=ModAckRequest.FromString,
                    response_serializer=empty_pb2.Empty.SerializeToString,
                ),
            },
        )
        checks = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "GetSubscription": grpc.unary_unary_rpc_method_handler(
                    fake.get_subscription,
                    request_deserializer=GetSubscriptionPb.FromString,
                    response_serializer=SubscriptionPb.SerializeToString,
                ),
            },
        )
        publisher = grpc.method_handlers_generic_handler(
            "google.pubsub.v1.Publisher",
            {
                "GetTopic": grpc.unary_unary_rpc_method_handler(
                    fake.get_topic,
                    request_deserializer=GetTopicPb.FromString,
                    response_serializer=TopicPb.SerializeToString,
                ),
            },
        )
        iam = grpc.method_handlers_generic_handler(
            "google.iam.v1.IAMPolicy",
            {
                "GetIamPolicy": grpc.unary_unary_rpc_method_handler(
                    fake.get_iam_policy,
                    request_deserializer=iam_policy_pb2.GetIamPolicyRequest.FromString,
                    response_serializer=policy_pb2.Policy.SerializeToString,
                ),
                "TestIamPermissions": grpc.unary_unary_rpc_method_handler(
                    fake.test_iam_permissions,
                    request_deserializer=iam_policy_pb2.TestIamPermissionsRequest.FromString,
                    response_serializer=iam_policy_pb2.TestIamPermissionsResponse.SerializeToString,
                ),
            },
        )
        self._server.add_generic_rpc_handlers((handler, checks, publisher, iam))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.host = f"127.0.0.1:{port}"

    def __enter__(self) -> FakePubSubServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)


@contextmanager
def emulated(fake: FakeSubscription, environ: Any) -> Iterator[FakeSubscription]:
    """FAKE served, with PUBSUB_EMULATOR_HOST naming it (ENVIRON: pytest's
    monkeypatch), which the client library reads when it makes a client."""
    with FakePubSubServer(fake) as server:
        environ.setenv("PUBSUB_EMULATOR_HOST", server.host)
        yield fake
