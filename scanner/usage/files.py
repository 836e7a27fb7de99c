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
from scanner.errors import InputError
from scanner.inventory.fields import AssetDataError, parse_time
from scanner.jsonstream import paged
from scanner.key_views import KeyIdent
from scanner.models import KeyUsage, ProjectRecord
from scanner.usage.tally import ProjectUsage


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
        resource = series.get("resource", {}) if isinstance(series, dict) else {}
        labels = resource.get("labels", {}) if isinstance(resource, dict) else {}
        project = labels.get("project_id")
        if not isinstance(project, str):
            raise InputError(f"{where}: resource.labels.project_id is required")
        metric = series.get("metric", {})
        metric_labels = (metric.get("labels") or {}) if isinstance(metric, dict) else {}
        # Google documents the label on consumed_api; public code reads it from
        # either the resource's labels or the metric's.
        credential = labels.get("credential_id") or metric_labels.get("credential_id") or ""
        points = []
        for point in series.get("points", []):
            try:
                when = parse_time((point.get("interval") or {}).get("endTime"), "endTime")
                count = int((point.get("value") or {}).get("int64Value", 0))
            except (AssetDataError, ValueError, AttributeError, TypeError) as exc:
                raise InputError(f"{where}: unreadable point: {exc}") from None
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
