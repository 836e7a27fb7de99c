"""/metrics, /healthz and /readyz over real HTTP; the collector's values
checked against the report, which reads the same history another way."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from scanner.alerts.content.wording import deadline_phrase
from scanner.config import Config, MetricsConfig
from scanner.configfile import parse_config
from scanner.metrics.collector import StoreCollector, WorkerState
from scanner.report.answers import status_finding
from scanner.report.build import build_report
from scanner.scan.engine import run_scan
from scanner.service.endpoints import EndpointServer, Readiness
from scanner.service.logs import CloudLoggingJsonFormatter, ConsoleFormatter
from scanner.sources.inventory.export import ExportSource
from scanner.store import db
from scanner.store.aggregates import OTHER_PROJECTS
from scanner.store.lock import ScanLock
from tests.conftest import NOW

DEMO = Path(__file__).parent.parent / "scanner" / "samples" / "demo-org.jsonl"
Samples = dict[str, list[tuple[dict[str, str], float]]]


def scan_demo(engine: Engine, config: Config) -> None:
    run_scan(ExportSource([DEMO], config.gemini.project_services), engine, config, NOW)


@contextmanager
def endpoints(engine: Engine, config: Config, ready: Readiness | None = None) -> Iterator[str]:
    registry = CollectorRegistry(auto_describe=False)
    state = WorkerState(ScanLock(engine), next_run=lambda: None)
    registry.register(StoreCollector(engine, config, state))
    state_of_readiness = ready or Readiness(True, "ok")
    server = EndpointServer("127.0.0.1:0", registry, lambda: state_of_readiness)
    server.start()
    try:
        yield f"http://{server.address}"
    finally:
        server.stop()


def get(url: str, method: str = "GET") -> tuple[int, str, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def scrape(base: str) -> Samples:
    status, content_type, body = get(base + "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def test_metrics_agree_with_the_report(engine: Engine) -> None:
    config = Config()
    scan_demo(engine, config)
    with endpoints(engine, config) as base:
        samples = scrape(base)
    report_keys = list(build_report(engine).iter_keys())

    by_status_type = Counter((k.status, k.key_type) for k in report_keys)
    metric_keys = {(lb["status"], lb["key_type"]): v for lb, v in samples["keysentry_keys"]}
    assert {k: v for k, v in metric_keys.items() if v} == by_status_type
    assert len(metric_keys) == 10  # every status and type, zeros included

    by_project_status = Counter((k.project, k.status) for k in report_keys)
    per_project = {(lb["project"], lb["status"]): v for lb, v in samples["keysentry_project_keys"]}
    assert per_project == by_project_status

    findings = Counter((f.rule, f.severity.value) for k in report_keys for f in k.findings)
    findings.update((p["rule"], p["severity"]) for p in build_report(engine).project_findings())
    open_metric = {(lb["rule"], lb["severity"]): v for lb, v in samples["keysentry_findings_open"]}
    assert {k: v for k, v in open_metric.items() if v} == findings

    worst = sorted(
        (k for k in report_keys if k.status != "deleted" and k.score > 0),
        key=lambda k: (-k.score, k.name),
    )[:50]
    top = [(lb["key"], v) for lb, v in samples["keysentry_top_key_score"]]
    assert top == [(k.name, k.score) for k in worst]
    assert all(lb["display_name"] for lb, _ in samples["keysentry_top_key_score"])
    assert all("status" not in lb for lb, _ in samples["keysentry_top_key_score"])
    statuses = {lb["key"]: lb["status"] for lb, _ in samples["keysentry_top_key_status"]}
    assert statuses == {k.name: k.status.value for k in worst}

    entry_keys = {lb["timeline_entry"]: v for lb, v in samples["keysentry_deadline_keys"]}
    expected = Counter()
    deadlines = {e.id: e for e in config.timeline}
    for k in report_keys:
        entries = {
            entry.id for f in k.findings for entry in deadlines.values() if f.rule in entry.rules
        }
        expected.update(entries)
    assert entry_keys == {e: float(expected.get(e, 0)) for e in deadlines}
    assert samples["keysentry_last_scan_success"] == [({}, 1.0)]
    assert samples["keysentry_scans_total"] == [
        ({"outcome": "succeeded"}, 1.0),
        ({"outcome": "failed"}, 0.0),
    ]
    assert samples["keysentry_store_up"] == [({}, 1.0)]
    assert samples["keysentry_build_info"][0][0]["version"]


def test_accepted_findings_and_exceptions_about_to_lapse(engine: Engine) -> None:
    """The demo's exceptions judged on the demo's day: one lapses in ten days.
    A replica whose own config has no exceptions shows the same figures."""
    exceptions = (DEMO.parent / "demo-exceptions.yaml").read_text()
    config = parse_config(exceptions, "demo-exceptions.yaml", today=NOW.date())
    scan_demo(engine, config)
    report_keys = list(build_report(engine).iter_keys())
    accepted = Counter((a.rule, a.severity.value) for k in report_keys for a in k.accepted)
    returning = sum(
        1
        for k in report_keys
        for a in k.accepted
        if a.accepted is not None and a.accepted.id == "maps-web-any-referrer"
    )
    assert accepted and returning
    lapses = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    for replica_config in (config, Config()):
        with endpoints(engine, replica_config) as base:
            samples = scrape(base)
        metric = {
            (lb["rule"], lb["severity"]): v for lb, v in samples["keysentry_findings_accepted"]
        }
        assert {k: v for k, v in metric.items() if v} == accepted
        still_open = Counter((f.rule, f.severity.value) for k in report_keys for f in k.findings)
        still_open.update(
            (p["rule"], p["severity"]) for p in build_report(engine).project_findings()
        )
        open_metric = {
            (lb["rule"], lb["severity"]): v for lb, v in samples["keysentry_findings_open"]
        }
        assert {k: v for k, v in open_metric.items() if v} == still_open
        assert samples["keysentry_exceptions_in_force"] == [({}, 2.0)]
        assert samples["keysentry_exceptions_expiring"] == [({}, 1.0)]
        assert samples["keysentry_exceptions_expiring_findings"] == [({}, float(returning))]
        assert samples["keysentry_exception_expiry_timestamp_seconds"] == [
            ({"exception": "maps-web-any-referrer"}, lapses)
        ]


def test_what_is_due_when_agrees_with_the_report(engine: Engine) -> None:
    config = Config(metrics=MetricsConfig(max_projects=2))
    scan_demo(engine, config)
    with endpoints(engine, config) as base:
        samples = scrape(base)
    report_keys = list(build_report(engine).iter_keys())

    def due(days: int) -> str:
        return "overdue" if days < 0 else "7d" if days <= 7 else "30d" if days <= 30 else "later"

    dated = [(k, f) for k in report_keys for f in k.findings if f.deadline is not None]
    expected = Counter((f.rule, due((f.deadline - NOW.date()).days)) for _, f in dated)
    by_rule = {(lb["rule"], lb["due"]): v for lb, v in samples["keysentry_findings_due"]}
    assert {k: v for k, v in by_rule.items() if v} == expected
    assert {bucket for _, bucket in by_rule} == {"overdue", "7d", "30d", "later"}
    # The September entry, announced and past: overdue in the metrics, and the
    # words of every message say it passed, never "not yet".
    september = [f for _, f in dated if f.deadline_kind == "announced"]
    assert september and all(f.deadline < NOW.date() for f in september)
    assert by_rule[(september[0].rule, "overdue")] == len(
        [f for f in september if f.rule == september[0].rule]
    )
    for f in september:
        words = deadline_phrase(f.deadline.isoformat(), "announced", (f.deadline - NOW.date()).days)
        assert words.startswith("past the announced date of") and "not yet" not in words
    assert by_rule[("key-not-rotated", "later")] == expected.get(("key-not-rotated", "later"), 0)
    # By project: the two named projects and "(other)", nothing lost.
    by_project = {
        (lb["project"], lb["due"]): v for lb, v in samples["keysentry_project_findings_due"]
    }
    assert sum(by_project.values()) == len(dated)
    assert len({p for p, _ in by_project} - {OTHER_PROJECTS}) <= 2
    # The top keys' deadline is when the finding that sets their status is due,
    # as the report's Due column says (a blocked key: the deadline that blocked it).
    due_of = {
        lb["key"]: datetime.fromtimestamp(v, UTC).date()
        for lb, v in samples["keysentry_top_key_deadline_timestamp_seconds"]
    }
    by_name = {k.name: k for k in report_keys}
    top = {lb["key"] for lb, _ in samples["keysentry_top_key_score"]}
    assert any(by_name[name].status == "blocked" for name in top)
    for name in top:
        finding = status_finding(by_name[name])
        assert due_of.get(name) == (finding.deadline if finding else None), name


def test_caps_bound_the_series_count(engine: Engine) -> None:
    config = Config(metrics=MetricsConfig(top_keys=3, max_projects=2))
    scan_demo(engine, config)
    with endpoints(engine, config) as base:
        samples = scrape(base)
    report_keys = list(build_report(engine).iter_keys())
    per_project = samples["keysentry_project_keys"]
    projects = {lb["project"] for lb, _ in per_project}
    assert len(projects) == 3 and OTHER_PROJECTS in projects
    assert sum(v for _, v in per_project) == len(report_keys)  # nothing lost in (other)
    # The two named projects are those with the most blocked keys.
    blocked = Counter(k.project for k in report_keys if k.status == "blocked")
    most = max(blocked.values())
    named = projects - {OTHER_PROJECTS}
    assert all(blocked[p] == most for p in named)
    assert len(samples["keysentry_top_key_score"]) == 3

    no_projects = config.model_copy(update={"metrics": MetricsConfig(per_project=False)})
    with endpoints(engine, no_projects) as base:
        assert "keysentry_project_keys" not in scrape(base)


def test_before_any_scan_and_with_the_database_down(tmp_path: Path) -> None:
    engine = db.open_engine(f"sqlite:///{tmp_path}/h.db")
    db.ensure_current(engine)
    with endpoints(engine, Config()) as base:
        samples = scrape(base)
        assert samples["keysentry_store_up"] == [({}, 1.0)]
        assert "keysentry_keys" not in samples  # nothing to say yet, rather than zeros
        assert len(samples["keysentry_deadline_remaining_seconds"]) == 3
    down = db.open_engine("postgresql+psycopg://postgres@127.0.0.1:9/none")
    with endpoints(down, Config()) as base:
        samples = scrape(base)
    assert samples["keysentry_store_up"] == [({}, 0.0)]
    assert "keysentry_build_info" in samples


def test_endpoints(engine: Engine) -> None:
    with endpoints(engine, Config(), Readiness(False, "no successful scan yet")) as base:
        assert get(base + "/healthz")[:1] == (200,)
        status, _, body = get(base + "/readyz")
        assert (status, body) == (503, "no successful scan yet\n")
        for path in ("/", "/metrics/x", "/admin", "/healthz/"):
            assert get(base + path)[0] == 404
        assert get(base + "/metrics", method="POST")[0] == 404
        assert get(base + "/metrics?name[]=x")[0] == 200
    with endpoints(engine, Config(), Readiness(True, "ok")) as base:
        assert get(base + "/readyz")[:1] == (200,)


def test_metrics_config_errors_name_their_path() -> None:
    with pytest.raises(Exception, match=r"c.yaml: metrics.top_keys"):
        parse_config("metrics: {top_keys: -1}", "c.yaml")


def test_json_log_lines_carry_severity_message_and_fields() -> None:
    record = logging.LogRecord(
        "keysentry.worker", logging.WARNING, "w.py", 7, "scan %d", (3,), None
    )
    record.scan_id = 3
    line = json.loads(CloudLoggingJsonFormatter().format(record))
    assert line["severity"] == "WARNING" and line["message"] == "scan 3"
    assert line["scan_id"] == 3
    assert line["logging.googleapis.com/sourceLocation"]["line"] == 7


def test_console_logs_neutralize_escape_sequences() -> None:
    record = logging.LogRecord("k", logging.INFO, "w.py", 1, "key \x1b[31mred", (), None)
    text = ConsoleFormatter().format(record)
    assert "\x1b" not in text and "key \ufffd[31mred" in text
