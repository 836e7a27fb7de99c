"""A Cloud Monitoring MetricService speaking the real gRPC protocol on
loopback: ListTimeSeries over daily request counts per key, with page tokens
and faults per project, like the Cloud Asset fake; and over the gauges
Pub/Sub reports of a subscription (pubsub_subscription: the age of its
oldest unacknowledged message, its undelivered messages)."""

from __future__ import annotations

import re
import threading
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import (
    MetricServiceGrpcTransport,
)

SERVICE = "google.monitoring.v3.MetricService"
RequestPb = type(monitoring_v3.ListTimeSeriesRequest.pb(monitoring_v3.ListTimeSeriesRequest()))
ResponsePb = type(monitoring_v3.ListTimeSeriesResponse.pb(monitoring_v3.ListTimeSeriesResponse()))
TimeSeriesPb = type(monitoring_v3.TimeSeries.pb(monitoring_v3.TimeSeries()))


@dataclass(frozen=True)
class Traffic:
    """Daily request counts of one key (or other credential) in one project."""

    credential: str  # "apikey:<uid>", or "" for series without the label
    service: str
    code_class: str  # 2xx, 4xx, ...
    daily: dict[int, int]  # days before the query's end -> requests that day


def series(traffic: Traffic, end: datetime) -> Any:
    pb = TimeSeriesPb()
    pb.metric.type = "serviceruntime.googleapis.com/api/request_count"
    pb.metric.labels["response_code_class"] = traffic.code_class
    pb.resource.type = "consumed_api"
    pb.resource.labels["service"] = traffic.service
    if traffic.credential:
        pb.resource.labels["credential_id"] = traffic.credential
    for days_ago, count in sorted(traffic.daily.items()):
        point = pb.points.add()
        point.interval.end_time.FromDatetime((end - timedelta(days=days_ago)).replace(tzinfo=None))
        point.value.int64_value = count
    return pb


@dataclass
class ProjectFault:
    project: str  # as in the request name: projects/<id>
    code: grpc.StatusCode
    times: int = 1  # -1: always


@dataclass
class FakeMonitoring:
    traffic: dict[str, list[Traffic]]  # project id -> its traffic
    faults: list[ProjectFault] = field(default_factory=list)
    # metric type -> subscription id -> its value now (pubsub.googleapis.com/subscription/...)
    gauges: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def list_time_series(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.requests.append(request)
            for fault in self.faults:
                if fault.project == request.name and fault.times != 0:
                    fault.times -= 1
                    context.abort(fault.code, f"injected fault for {request.name}")
        end = request.interval.end_time.ToDatetime(tzinfo=UTC)
        if "pubsub.googleapis.com/subscription/" in request.filter:
            return self._gauge(request.filter, end, context)
        if "serviceruntime.googleapis.com/api/request_count" not in request.filter:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unexpected filter")
        project = request.name.removeprefix("projects/")
        all_series = [series(t, end) for t in self.traffic.get(project, [])]
        size = request.page_size or 2
        start = int(request.page_token or 0)
        response = ResponsePb()
        response.time_series.extend(all_series[start : start + size])
        if start + size < len(all_series):
            response.next_page_token = str(start + size)
        return response

    def _gauge(self, text: str, end: datetime, context: grpc.ServicerContext) -> Any:
        """One series with a point a minute before END and one at END, as
        Pub/Sub samples its gauges every minute."""
        metric = re.search(r'metric\.type = "([^"]+)"', text)
        subscription = re.search(r'resource\.labels\.subscription_id = "([^"]+)"', text)
        typed = 'resource.type = "pubsub_subscription"' in text
        if metric is None or subscription is None or not typed:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unexpected filter {text}")
        response = ResponsePb()
        value = self.gauges.get(metric.group(1), {}).get(subscription.group(1))
        if value is None:
            return response
        pb = response.time_series.add()
        pb.metric.type = metric.group(1)
        pb.resource.type = "pubsub_subscription"
        pb.resource.labels["subscription_id"] = subscription.group(1)
        for at, sample in ((end, value), (end - timedelta(minutes=1), value // 2)):
            point = pb.points.add()  # newest first, as Monitoring returns them
            point.interval.end_time.FromDatetime(at.replace(tzinfo=None))
            point.value.int64_value = sample
        return response


class FakeMonitoringServer:
    def __init__(self, fake: FakeMonitoring) -> None:
        self.fake = fake
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                    fake.list_time_series,
                    request_deserializer=RequestPb.FromString,
                    response_serializer=ResponsePb.SerializeToString,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"

    def __enter__(self) -> FakeMonitoringServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def client(self) -> monitoring_v3.MetricServiceClient:
        channel = grpc.insecure_channel(self.address)
        return monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel)
        )
