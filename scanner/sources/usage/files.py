"""Usage from saved Cloud Monitoring answers, for offline scans: the JSON of
`projects.timeSeries.list` (an object with "timeSeries", or a list of such
pages; optionally gzipped, UTF-8 or UTF-16), queried as the live source does
(daily sums of request_count by credential_id, service and
response_code_class). Read a series at a time: an organization's answers
run to hundreds of megabytes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from scanner.config import UsageConfig
from scanner.core.errors import InputError
from scanner.core.key_views import KeyIdent
from scanner.core.models import KeyUsage, ProjectRecord
from scanner.inputs.fields import AssetDataError, parse_time
from scanner.inputs.jsonstream import paged
from scanner.sources.usage.tally import ProjectUsage


class FileUsageSource:
    def __init__(self, paths: list[Path], config: UsageConfig, gemini_services: Iterable[str]):
        self._paths = paths
        self._config = config
        self._gemini = frozenset(gemini_services)
        self._projects: dict[str, ProjectUsage] = {}
        self.errors: dict[str, str] = {}

    def start(self, projects: Iterable[ProjectRecord], at: datetime) -> None:
        for path in self._paths:
            for index, (line, series) in enumerate(paged(path, "timeSeries"), start=1):
                self._add(f"{path}:{line}: series {index}", series, at)

    def _add(self, where: str, series: Any, at: datetime) -> None:
        series = _object(series, where, "the series")
        resource = _object(series.get("resource", {}), where, "resource")
        labels = _object(resource.get("labels", {}), where, "resource.labels")
        project = labels.get("project_id")
        if not isinstance(project, str):
            raise InputError(f"{where}: resource.labels.project_id is required")
        metric = _object(series.get("metric", {}), where, "metric")
        metric_labels = _object(metric.get("labels") or {}, where, "metric.labels")
        # Google documents the label on consumed_api; public code reads it from
        # either the resource's labels or the metric's.
        credential = labels.get("credential_id") or metric_labels.get("credential_id") or ""
        listed = series.get("points", [])
        if not isinstance(listed, list):
            raise InputError(f"{where}: points: expected a list, not {type(listed).__name__}")
        points = []
        for index, item in enumerate(listed):
            at_point = f"{where}: points[{index}]"
            point = _object(item, at_point, "the point")
            try:
                interval = _object(point.get("interval") or {}, at_point, "interval")
                when = parse_time(interval.get("endTime"), "endTime")
            except AssetDataError as exc:
                raise InputError(f"{at_point}: unreadable point: {exc}") from None
            value = _object(point.get("value") or {}, at_point, "value")
            count = _int64(value.get("int64Value", 0), at_point)
            if when is not None:
                points.append((when, count))
        usage = self._projects.setdefault(
            project, ProjectUsage(at, self._gemini, self._config.lookback_days)
        )
        usage.add(
            str(credential),
            str(labels.get("service", "")),
            str(metric_labels.get("response_code_class", "")),
            points,
        )

    def for_key(self, key: KeyIdent) -> KeyUsage | None:
        usage = self._projects.get(key.project_id or key.project_number)
        return None if usage is None else usage.usage_of(key, self._config.lookback_days)

    def unmatched_series(self) -> int:
        return sum(u.unmatched_series() for u in self._projects.values())

    def close(self) -> None:
        pass


def _object(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: {what}: expected an object, not {type(value).__name__}")
    return value


_INT64_MAX = 2**63 - 1


def _int64(value: Any, where: str) -> int:
    """A request count as Monitoring writes it: int64Value, a decimal string
    (or a number) from 0 to 2**63 - 1."""
    text = value if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif text is not None and text.isascii() and text.isdigit() and len(text) <= 19:
        count = int(text)
    else:
        raise InputError(f"{where}: value.int64Value: expected a count, not {str(value)[:40]!r}")
    if not 0 <= count <= _INT64_MAX:
        raise InputError(f"{where}: value.int64Value: {str(count)[:40]} is out of range")
    return count
