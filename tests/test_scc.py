"""Findings published to Security Command Center through the real client over
gRPC to a loopback fake (tests/fakes/security_center.py), on SQLite and
PostgreSQL: created by a stable id, muted while an exception accepts them,
INACTIVE once resolved, nothing sent when nothing changed, and a sync cut
short or run twice at once leaving one finding per finding."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.cloud import securitycenter_v2
from sqlalchemy import Engine

from scanner.config import Config
from scanner.config.exceptions import ExceptionEntry, ExceptionsConfig
from scanner.config.scc import SccConfig
from scanner.core.errors import SourceError
from scanner.report.build import build_report
from scanner.scan.engine import run_scan
from scanner.scc.sync import SccSync
from scanner.sources.inventory.export import ExportSource
from scanner.store.history.rows import fingerprint
from tests import assets
from tests.conftest import NOW
from tests.fakes.security_center import FakeSecurityCenter, FakeSecurityCenterServer
from tests.test_cli import run_installed

SOURCE = "organizations/900000000001/sources/1234567890"
SCC = SccConfig(enabled=True, source=SOURCE, retry_deadline_seconds=10, requests_per_second=1000)
PARENT = f"{SOURCE}/locations/global"
KEY = "projects/100/locations/global/keys/"
State, Mute = securitycenter_v2.Finding.State, securitycenter_v2.Finding.Mute


def org(step: int) -> list[dict[str, Any]]:
    envelopes = [
        assets.project("100", "alpha"),
        assets.project("200", "beta"),
        assets.service("100", assets.GEMINI),
        assets.key("100", uid="k-open", display_name="open key"),
        assets.key("200", uid="k-beta", targets=["maps-backend.googleapis.com"]),
    ]
    if step >= 1:  # the open key restricted, a new one created
        envelopes[3] = assets.key(
            "100", uid="k-open", targets=["maps-backend.googleapis.com"], server=["192.0.2.1"]
        )
        envelopes.append(assets.key("100", uid="k-new", display_name="new key"))
    return envelopes


def config() -> Config:
    accepted = ExceptionEntry(
        id="beta-maps",
        rules=["key-application-unrestricted"],
        projects=["beta"],
        reason="server key behind a proxy",
        approved_by="owner@example.com",
        expires=date(2027, 1, 31),
    )
    return Config(exceptions=ExceptionsConfig(entries=[accepted]), scc=SCC)


def scan(engine: Engine, tmp_path: Path, step: int) -> int:
    export = assets.write_ndjson(tmp_path / f"org-{step}.jsonl", org(step))
    source = ExportSource([export], config().gemini.project_services)
    return run_scan(source, engine, config(), NOW + timedelta(days=step)).scan_id


def open_findings(engine: Engine) -> dict[str, tuple[str, str, bool]]:
    """name -> (rule, key, accepted) of every finding open at the latest scan."""
    found = {}
    for key in build_report(engine).iter_keys():
        for f in (*key.findings, *key.accepted):
            name = f"{PARENT}/findings/{fingerprint(f.rule, key.name)}"
            found[name] = (f.rule, key.name, f.accepted is not None)
    return found


def sync(engine: Engine, server: FakeSecurityCenterServer) -> Any:
    return SccSync(engine, SCC, server.client).run()


def test_findings_are_published_muted_resolved_and_left_alone(
    engine: Engine, tmp_path: Path
) -> None:
    fake = FakeSecurityCenter({SOURCE})
    with FakeSecurityCenterServer(fake) as server:
        scan(engine, tmp_path, 0)
        first = open_findings(engine)
        stats = sync(engine, server)
        assert stats.calls["created"] == len(first) > 3
        assert set(fake.findings) == set(first)
        for name, (rule, key, accepted) in first.items():
            published = fake.findings[name]
            assert published.state == State.ACTIVE and published.category == rule
            assert published.resource_name == f"//apikeys.googleapis.com/{key}"
            assert published.mute == (Mute.MUTED if accepted else Mute.UNDEFINED)
        muted = [n for n, (_, _, accepted) in first.items() if accepted]
        assert muted and [c for c in fake.calls if c[0] == "SetMute"] == [
            ("SetMute", n) for n in muted
        ]
        accepted = fake.findings[muted[0]].source_properties
        assert accepted["exception"].string_value == "beta-maps"
        assert accepted["exception_expires"].string_value == "2027-01-31"
        unrestricted = next(
            f for f in fake.findings.values() if f.category == "key-api-unrestricted"
        )
        assert [(c.standard, list(c.ids)) for c in unrestricted.compliances] == [("cis", ["1.15"])]
        assert unrestricted.source_properties["checklist"].string_value == "restrict-key"

        # Nothing new: nothing sent.
        calls = len(fake.calls)
        again = sync(engine, server)
        assert len(fake.calls) == calls and again.unchanged == len(first)

        # The next day: the open key's findings resolve, the new key's open.
        scan(engine, tmp_path, 1)
        now = open_findings(engine)
        stats = sync(engine, server)
        gone = set(first) - set(now)
        assert gone and stats.calls["resolved"] == len(gone)
        assert stats.calls["created"] == len(set(now) - set(first))
        assert all(fake.findings[n].state == State.INACTIVE for n in gone)
        assert all(fake.findings[n].state == State.ACTIVE for n in now)
        assert all(fake.findings[n].category for n in gone)  # resolved by state alone
        # Only what changed was sent: the beta key's findings were not.
        beta = [n for n, (_, key, _) in now.items() if key == KEY.replace("100", "200") + "k-beta"]
        assert beta and not {n for _, n in fake.calls[calls:]} & set(beta)


def test_a_sync_cut_short_or_run_twice_leaves_one_finding_each(
    engine: Engine, tmp_path: Path
) -> None:
    fake = FakeSecurityCenter({SOURCE}, unavailable=1, denied_after=3)
    with FakeSecurityCenterServer(fake) as server:
        scan(engine, tmp_path, 0)
        wanted = open_findings(engine)
        with pytest.raises(SourceError, match=r"permission denied .* roles/securitycenter"):
            sync(engine, server)  # refused once (retried), then cut short after 3 calls
        assert 0 < len(fake.findings) < len(wanted)
        fake.denied_after = None
        threads = [threading.Thread(target=sync, args=(engine, server)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert set(fake.findings) == set(wanted)  # one each, whoever sent it
        assert all(f.state == State.ACTIVE for f in fake.findings.values())
        calls = len(fake.calls)
        sync(engine, server)
        assert len(fake.calls) == calls


def test_scc_sync_dry_run_through_the_command(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'h.db'}"
    export = assets.write_ndjson(tmp_path / "org.jsonl", org(0))
    scanned = run_installed("scan", "--db", database, "--from-export", str(export))
    assert scanned.returncode == 0, scanned.stderr
    config = tmp_path / "keysentry.yaml"
    config.write_text(f"scc: {{enabled: true, source: {SOURCE}}}\n")
    result = run_installed("scc", "sync", "--config", str(config), "--db", database, "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("(dry run) scc: scan 1: ") and " created; 0 unchanged" in lines[-1]
    assert any(line == f"would be created: key-api-unrestricted on {KEY}k-open" for line in lines)
    config.write_text("scc: {enabled: true}\n")
    refused = run_installed("scc", "sync", "--config", str(config), "--db", database)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "scc.enabled needs scc.source" in refused.stderr


def _worker(engine: Engine, tmp_path: Path, server: FakeSecurityCenterServer) -> Any:
    from scanner.service.worker import Worker

    export = assets.write_ndjson(tmp_path / "org.jsonl", org(0))
    return Worker(
        config(),
        engine,
        lambda: ExportSource([export], config().gemini.project_services),
        evaluated_at=lambda: NOW,
        scc_client=server.client,
    )


def test_the_worker_publishes_after_each_scan(engine: Engine, tmp_path: Path) -> None:
    fake = FakeSecurityCenter({SOURCE})
    with FakeSecurityCenterServer(fake) as server:
        assert _worker(engine, tmp_path, server).scan_once() == "succeeded"
    assert set(fake.findings) == set(open_findings(engine))


def test_a_refused_publication_is_logged_and_the_scan_stands(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeSecurityCenter({SOURCE}, denied_after=0)
    with FakeSecurityCenterServer(fake) as server:
        assert _worker(engine, tmp_path, server).scan_once() == "succeeded"
    assert fake.findings == {}
    assert "findings not published to Security Command Center" in caplog.text
    assert "permission denied" in caplog.text
