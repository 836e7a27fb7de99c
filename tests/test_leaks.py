"""Leak import end to end, on both databases: LookupKey through the real
client against the fake API Keys service, the cache, idempotency, nothing
half-imported, the key-leaked lifecycle, immediate alerts, and no key string
anywhere keysentry writes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine, func, select, text

from scanner.alerts.plan.planner import scan_hook
from scanner.config import Config
from scanner.configfile import parse_config
from scanner.core.errors import InputError, SourceError, StoreError
from scanner.core.secrets import Fingerprinter
from scanner.leaks.importer import Importer
from scanner.leaks.lookup import ApiKeysLookup
from scanner.leaks.reports import read
from scanner.report.build import build_report
from scanner.report.documents import key_document
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store.tables import (
    FindingVersion,
    LeakImportRow,
    LeakLookupRow,
    LeakReportRow,
    Notification,
    Transition,
)
from tests import assets, leakdata
from tests.conftest import NOW
from tests.fakes.api_keys import FakeApiKeys, FakeApiKeysServer, Fault

OURS = leakdata.standard_key("ours")
PURGED = leakdata.standard_key("purged")
STRANGER = leakdata.standard_key("stranger")
DENIED = leakdata.standard_key("denied")
BY_ID = leakdata.auth_key("by-project-id")
ALL_KEYS = (OURS, PURGED, STRANGER, DENIED, BY_ID)
FINGERPRINTER = Fingerprinter(leakdata.FINGERPRINT_KEY.encode())


def fake_api_keys() -> FakeApiKeys:
    return FakeApiKeys(
        keys={
            OURS: ("projects/100/locations/global/keys/k-ours", "projects/100/locations/global"),
            PURGED: ("", "projects/100/locations/global"),
            BY_ID: (
                "projects/alpha/locations/global/keys/k-auth",
                "projects/alpha/locations/global",
            ),
        },
        denied={DENIED},
    )


def org(**ours: Any) -> list[dict[str, Any]]:
    return [
        assets.project("100", "alpha"),
        assets.service("100", assets.GEMINI),
        assets.key(
            "100",
            uid="k-ours",
            display_name="web key",
            targets=["maps-backend.googleapis.com"],
            browser=["https://www.example.com/*"],
            **ours,
        ),
        assets.key(
            "100",
            uid="k-auth",
            display_name="auth key",
            targets=[assets.GEMINI],
            service_account="sa@alpha.iam.gserviceaccount.com",
        ),
    ]


def scan(
    engine: Engine,
    tmp_path: Path,
    envelopes: list[dict[str, Any]],
    hours: int,
    config: Config | None = None,
) -> int:
    config = config or Config()
    export = assets.write_ndjson(tmp_path / f"org-{hours}.jsonl", envelopes)
    source = ExportSource([export], config.gemini.project_services)
    hook = scan_hook(config.alerts) if config.alerts.enabled else None
    return run_scan(
        source, engine, config, NOW + timedelta(hours=hours), after_history=hook
    ).scan_id


def importer(engine: Engine, server: FakeApiKeysServer) -> Importer:
    lookup = ApiKeysLookup(server.client, timeout_seconds=5, retry_deadline_seconds=8)
    return Importer(engine, FINGERPRINTER, lookup)


def report_file(tmp_path: Path, name: str, findings: list[dict[str, Any]]) -> Path:
    return leakdata.write_json(tmp_path / name, findings)


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def all_leak_text(engine: Engine) -> str:
    """Every value of every leak table, as text."""
    with engine.connect() as conn:
        rows = [
            conn.execute(text(f"SELECT * FROM {table}")).all()
            for table in ("leak_imports", "leak_reports", "leak_lookups")
        ]
    return json.dumps([[list(map(str, r)) for r in t] for t in rows])


def test_import_resolves_each_string_once_and_reimporting_adds_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    scan(engine, tmp_path, org(), 0)  # the inventory knows alpha is project 100
    findings = [
        leakdata.gitleaks_finding(OURS, "a.js", 1),
        leakdata.gitleaks_finding(OURS, "b.js", 2),
        *[leakdata.gitleaks_finding(OURS, "a.js", 1)] * 500,  # the same finding, again
        leakdata.gitleaks_finding(PURGED, "c.js", 3),
        leakdata.gitleaks_finding(STRANGER, "d.js", 4),
        leakdata.gitleaks_finding(DENIED, "e.js", 5),
        leakdata.gitleaks_finding(BY_ID, "f.js", 6),
    ]
    path = report_file(tmp_path, "gitleaks.json", findings)
    fake = fake_api_keys()
    with FakeApiKeysServer(fake) as server:
        stats = importer(engine, server).run(read(path), str(path), NOW)
        assert stats.lookups == 5 == fake.calls["total"]  # one per distinct string
        assert stats.new_reports == 6 and stats.duplicates == 500
        assert stats.outcomes == {"matched": 3, "purged": 1, "not_found": 1, "denied": 1}
        assert stats.newly_leaked_keys == 2
        again = importer(engine, server).run(read(path), str(path), NOW)
        assert again.new_reports == 0 and again.duplicates == 506
        assert again.lookups == 1  # only the refused one is asked again
        other = leakdata.write_lines(tmp_path / "th.jsonl", [leakdata.trufflehog_finding(OURS)])
        third = importer(engine, server).run(read(other), str(other), NOW)
        assert (third.new_reports, third.lookups, third.newly_leaked_keys) == (1, 0, 0)
    with engine.connect() as conn:
        matched = dict(
            conn.execute(
                select(LeakReportRow.file, LeakReportRow.key_name).where(
                    LeakReportRow.key_name.is_not(None)
                )
            ).all()
        )
        purged = conn.scalar(select(LeakReportRow.parent).where(LeakReportRow.outcome == "purged"))
    assert matched["f.js"] == "projects/100/locations/global/keys/k-auth"  # id -> number
    assert matched["a.js"] == "projects/100/locations/global/keys/k-ours"
    assert purged == "projects/100/locations/global"
    stored = all_leak_text(engine)
    assert not [k for k in ALL_KEYS if k in stored or k[4:-4] in stored]


def test_lookup_retries_transient_errors_and_a_persistent_one_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    path = report_file(tmp_path, "r.json", [leakdata.gitleaks_finding(OURS)])
    fake = fake_api_keys()
    fake.faults.append(Fault(grpc.StatusCode.UNAVAILABLE, 2))
    with FakeApiKeysServer(fake) as server:
        stats = importer(engine, server).run(read(path), str(path), NOW)
        assert stats.outcomes == {"matched": 1} and fake.calls["total"] == 3
        fake.faults.append(Fault(grpc.StatusCode.INTERNAL, -1))
        other = report_file(tmp_path, "s.json", [leakdata.gitleaks_finding(STRANGER)])
        with pytest.raises(SourceError, match="LookupKey failed") as failure:
            importer(engine, server).run(read(other), str(other), NOW)
    assert STRANGER not in str(failure.value)  # the fake echoes it; keysentry scrubs it
    assert count(engine, LeakImportRow) == 1 and count(engine, LeakReportRow) == 1


def test_a_bad_item_anywhere_imports_nothing(engine: Engine, tmp_path: Path) -> None:
    good = report_file(tmp_path, "good.json", [leakdata.gitleaks_finding(OURS)])
    bad = report_file(
        tmp_path, "bad.json", [leakdata.gitleaks_finding(STRANGER), {"RuleID": "x", "Secret": 7}]
    )
    with FakeApiKeysServer(fake_api_keys()) as server:

        def both() -> Any:
            yield from read(good)
            yield from read(bad)

        with pytest.raises(InputError, match=r"bad.json:\d+: Secret: expected a string"):
            importer(engine, server).run(both(), "two files", NOW)
    for table in (LeakImportRow, LeakReportRow, LeakLookupRow):
        assert count(engine, table) == 0


def test_another_fingerprint_secret_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = report_file(tmp_path, "r.json", [leakdata.gitleaks_finding(OURS)])
    with FakeApiKeysServer(fake_api_keys()) as server:
        importer(engine, server).run(read(path), str(path), NOW)
        other = Fingerprinter(b"a different secret, long enough")
        lookup = ApiKeysLookup(server.client)
        with pytest.raises(StoreError, match="not the secret this database's 1 earlier"):
            Importer(engine, other, lookup).run(read(path), str(path), NOW)


def open_findings(engine: Engine, rule: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(FindingVersion).where(
                    FindingVersion.rule_id == rule, FindingVersion.valid_to_scan_id.is_(None)
                )
            ).all()
        )


def test_key_leaked_stays_open_until_the_key_is_deleted(engine: Engine, tmp_path: Path) -> None:
    scan(engine, tmp_path, org(), 0)
    assert open_findings(engine, "key-leaked") == []
    path = report_file(tmp_path, "r.json", [leakdata.gitleaks_finding(OURS)])
    with FakeApiKeysServer(fake_api_keys()) as server:
        importer(engine, server).run(read(path), str(path), NOW)
    leaked_scan = scan(engine, tmp_path, org(), 6)
    (found,) = open_findings(engine, "key-leaked")
    assert found.key_name.endswith("/k-ours") and found.severity == "critical"
    assert "found by gitleaks in github.com/acme/web app/config.js:12" in found.summary
    assert OURS not in found.summary and OURS[-4:] in found.summary
    report = build_report(engine, leaked_scan)
    document = next(key_document(k) for k in report.iter_keys() if k.uid == "k-ours")
    assert document["status"] == "non_compliant"
    assert document["leaks"][0]["file"] == "app/config.js"
    assert document["leaks"][0]["redacted"] == f"AIza…{OURS[-4:]}"
    # Tighter restrictions do not resolve it.
    scan(engine, tmp_path, org(server=["192.0.2.1/32"]), 12)
    assert len(open_findings(engine, "key-leaked")) == 1
    # Deleting the key does.
    deleted_scan = scan(engine, tmp_path, org(deleted="2026-11-21T00:00:00Z"), 18)
    assert open_findings(engine, "key-leaked") == []
    with engine.connect() as conn:
        kinds = conn.execute(
            select(Transition.scan_id, Transition.kind).where(Transition.rule_id == "key-leaked")
        ).all()
    assert sorted(kinds) == [(leaked_scan, "opened"), (deleted_scan, "resolved")]


def test_a_leak_is_sent_at_once_even_to_a_digest_receiver(engine: Engine, tmp_path: Path) -> None:
    config = parse_config(
        """
alerts:
  route: {receiver: team}
  receivers:
    - name: team
      email: {to: [team@example.com]}
      digest: {every: 7d, bypass_severity: null}
""",
        "test.yaml",
    )
    scan(engine, tmp_path, org(), 0, config)  # baseline, and the week's digest
    # A new critical finding waits for the digest...
    unrestricted = [*org(), assets.key("100", uid="k-open", display_name="open")]
    quiet = scan(engine, tmp_path, unrestricted, 6, config)
    path = report_file(tmp_path, "r.json", [leakdata.gitleaks_finding(OURS)])
    with FakeApiKeysServer(fake_api_keys()) as server:
        importer(engine, server).run(read(path), str(path), NOW)
    loud = scan(engine, tmp_path, unrestricted, 12, config)
    with engine.connect() as conn:
        sent = conn.execute(
            select(Notification.scan_id, Notification.kind, Notification.payload)
        ).all()
    assert [n for n in sent if n.scan_id == quiet] == []
    (leak,) = [n for n in sent if n.scan_id == loud]
    assert leak.kind == "transition" and leak.payload["event"] == "opened"
    assert leak.payload["keys"][0]["findings"][0]["rule"] == "key-leaked"
