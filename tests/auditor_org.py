"""A changing organization over six scans (restrict, delete, leave and come
back, restrictions removed again, a rule disabled, usage refused), for the
auditor tests. Keys and projects are built with tests.assets (Cloud Asset
export shapes, cited there); usage comes from the fake Monitoring server."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from scanner.cli import main
from scanner.config import Config, InventoryConfig
from scanner.configfile import parse_config
from scanner.report.build import build_report
from scanner.report.formats import render_json
from scanner.scan.engine import run_scan
from scanner.sources.inventory.asset import CloudAssetSource
from scanner.sources.inventory.export import ExportSource
from scanner.sources.inventory.source import InventorySource
from scanner.sources.usage.monitoring import UsageCollector
from scanner.store.tables import Transition
from tests import assets
from tests.conftest import NOW
from tests.fakes.cloud_asset import serve
from tests.fakes.monitoring import FakeMonitoring, FakeMonitoringServer, ProjectFault, Traffic

GEMINI = assets.GEMINI
OLD = "2025-01-01T00:00:00Z"
USAGE = "usage: {enabled: true, requests_per_second: 1000}\n"
DISABLED = USAGE + "rules: {disabled: [key-application-unrestricted]}\n"
KEY = "projects/100/locations/global/keys/{}"
ORGANIZATION = "organizations/900000000001"


def org(step: int) -> list[dict[str, Any]]:
    """The organization as each scan sees it."""
    restricted = {"targets": [GEMINI], "server": ["192.0.2.1/32"]}
    envelopes = [
        assets.project("100", "alpha"),
        assets.service("100", GEMINI),
        # Restricted at step 2, unrestricted again at step 4.
        assets.key("100", uid="k-open", created=OLD, **(restricted if step in (2, 3) else {})),
        assets.key("100", uid="k-dormant", created=OLD),
        # Deleted at step 3.
        assets.key(
            "100", uid="k-del", created=OLD, deleted="2026-12-01T00:00:00Z" if step >= 3 else None
        ),
    ]
    if step not in (3, 4):  # gone from the inventory at step 3, recreated at step 5
        envelopes.append(assets.key("100", uid="k-gone", created=OLD))
    return envelopes


def traffic(step: int) -> dict[str, list[Traffic]]:
    busy = {1: 40, 2: 35} if step == 1 else {1: 90}
    return {"alpha": [Traffic("apikey:k-open", GEMINI, "2xx", busy)]}


@dataclass
class History:
    engine: Engine
    db_url: str
    tmp: Path
    outcomes: dict[int, Any] = field(default_factory=dict)
    reports: dict[int, str] = field(default_factory=dict)
    keep_judgements: bool = True  # False: every scan judges every key
    live: bool = False  # True: from the fake Cloud Asset server, not an export file

    def at(self, step: int) -> Any:
        return NOW + timedelta(days=7 * (step - 1))

    def scan(self, step: int, config: Config, faults: list[ProjectFault] | None = None) -> Any:
        fake = FakeMonitoring(traffic(step), faults=faults or [])
        services = config.gemini.project_services
        with FakeMonitoringServer(fake) as server, ExitStack() as stack:
            usage = UsageCollector(server.client(), config.usage, config.gemini.api_services)
            if self.live:
                assets_server = stack.enter_context(serve(org(step)))
                source: InventorySource = CloudAssetSource(
                    assets_server.client(), ORGANIZATION, InventoryConfig(), services
                )
            else:
                export = assets.write_ndjson(self.tmp / f"org-{step}.jsonl", org(step))
                source = ExportSource([export], services)
            outcome = run_scan(
                source,
                self.engine,
                config,
                self.at(step),
                usage=usage,
                reuse_judgements=self.keep_judgements,
            )
        self.outcomes[step] = outcome
        self.reports[step] = render_json(build_report(self.engine, outcome.scan_id))
        return outcome

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--db", self.db_url], catch_exceptions=False)

    def reasons(self, step: int) -> dict[tuple[str, str], str | None]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Transition.key_name, Transition.rule_id, Transition.reason).where(
                    Transition.scan_id == self.outcomes[step].scan_id,
                    Transition.kind == "resolved",
                )
            )
            return {(r.key_name.rsplit("/", 1)[-1], r.rule_id): r.reason for r in rows}


def build_history(
    engine: Engine, db_url: str, tmp_path: Path, keep_judgements: bool = True, live: bool = False
) -> History:
    h = History(engine, db_url, tmp_path, keep_judgements=keep_judgements, live=live)
    usage = parse_config(USAGE, "c")
    h.scan(1, usage)
    h.scan(2, usage)
    h.scan(3, usage)
    h.scan(4, usage)
    h.scan(5, parse_config(DISABLED, "c"))
    alpha_down = ProjectFault("projects/alpha", grpc.StatusCode.PERMISSION_DENIED, times=-1)
    h.scan(6, parse_config(DISABLED, "c"), faults=[alpha_down])
    return h
