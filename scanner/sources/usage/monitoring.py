"""The one module that talks to Cloud Monitoring: per project, ListTimeSeries
on serviceruntime.googleapis.com/api/request_count (resource consumed_api),
summed per day and grouped by credential, service and response code class.

The credential_id label ("apikey:<id>") is not in Google's published list
for consumed_api; it is what public code relies on. Whether <id> is the key's
uid or its key id is not documented either: usage.tally matches both, and the
scan notes count the series that matched no key."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import retry as gretry
from google.cloud import monitoring_v3
from google.protobuf import duration_pb2, timestamp_pb2

from scanner.calls.google_errors import TRANSIENT, default_credentials, google_errors
from scanner.calls.ratelimit import RateLimiter
from scanner.config import UsageConfig
from scanner.core.errors import SourceError
from scanner.core.key_views import KeyIdent
from scanner.core.models import KeyUsage, ProjectRecord
from scanner.sources.usage.tally import ProjectUsage

METRIC = "serviceruntime.googleapis.com/api/request_count"
CREDENTIAL_LABEL = "credential_id"


def make_client() -> monitoring_v3.MetricServiceClient:
    """A client with Application Default Credentials."""
    credentials = default_credentials("usage", "monitoring.read")
    return monitoring_v3.MetricServiceClient(credentials=credentials)


def _ts(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC).replace(tzinfo=None))
    return stamp


class UsageCollector:
    def __init__(
        self,
        client: monitoring_v3.MetricServiceClient,
        config: UsageConfig,
        gemini_services: Iterable[str],
    ) -> None:
        self._client = client
        self._config = config
        self._gemini = frozenset(gemini_services)
        self._limiter = RateLimiter(config.requests_per_second)
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="usage")
        self._futures: dict[str, Future[ProjectUsage]] = {}
        self._at = datetime.now(UTC)
        self.errors: dict[str, str] = {}  # project -> why it has no usage data

    def start(self, projects: Iterable[ProjectRecord], at: datetime) -> None:
        """Query every project in the background while keys stream in."""
        self._at = at
        for project in projects:
            if project.lifecycle_state not in (None, "ACTIVE"):
                continue
            self._futures[project.number] = self._pool.submit(self._query, project)

    def for_key(self, key: KeyIdent) -> KeyUsage | None:
        future = self._futures.get(key.project_number)
        if future is None:
            return None
        try:
            usage = future.result()
        except SourceError as exc:
            self.errors.setdefault(key.project_id or key.project_number, str(exc))
            return None
        return usage.usage_of(key, self._config.lookback_days)

    def unmatched_series(self) -> int:
        """Over the projects whose usage was read (call after every key)."""
        done = [f for f in self._futures.values() if f.done() and not f.cancelled()]
        return sum(f.result().unmatched_series() for f in done if f.exception() is None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _request(self, project: ProjectRecord) -> monitoring_v3.ListTimeSeriesRequest:
        start = self._at - timedelta(days=self._config.lookback_days)
        return monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{project.project_id or project.number}",
            filter=f'metric.type = "{METRIC}" AND resource.type = "consumed_api"',
            interval=monitoring_v3.TimeInterval(start_time=_ts(start), end_time=_ts(self._at)),
            aggregation=monitoring_v3.Aggregation(
                alignment_period=duration_pb2.Duration(seconds=86400),
                per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_SUM,
                cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
                group_by_fields=[
                    f"resource.labels.{CREDENTIAL_LABEL}",
                    "resource.labels.service",
                    "metric.labels.response_code_class",
                ],
            ),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )

    def _query(self, project: ProjectRecord) -> ProjectUsage:
        where = f"usage of project {project.project_id or project.number}"
        retry = gretry.Retry(
            predicate=gretry.if_exception_type(*TRANSIENT),
            initial=1.0,
            maximum=16.0,
            multiplier=2.0,
            timeout=self._config.retry_deadline_seconds,
        )
        usage = ProjectUsage(self._at, self._gemini, self._config.lookback_days)
        needs = "roles/monitoring.viewer"
        with google_errors(where, needs, self._config.retry_deadline_seconds):
            self._limiter.wait()
            pager = self._client.list_time_series(
                request=self._request(project),
                retry=retry,
                timeout=self._config.request_timeout_seconds,
            )
            for page in pager.pages:
                for series in page.time_series:
                    self._add(usage, series)
                self._limiter.wait()
        return usage

    @staticmethod
    def _add(usage: ProjectUsage, series: Any) -> None:
        points = []
        for point in series.points:
            end = point.interval.end_time
            when = end if isinstance(end, datetime) else end.ToDatetime(tzinfo=UTC)
            points.append((when.astimezone(UTC), int(point.value.int64_value)))
        usage.add(
            series.resource.labels.get(CREDENTIAL_LABEL, ""),
            series.resource.labels.get("service", ""),
            series.metric.labels.get("response_code_class", ""),
            points,
        )
