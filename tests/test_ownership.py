"""IAM and ownership end to end: from an export and from the live fake (IAM
policies over ListAssets with content type IAM_POLICY), into the rules, the
stored key versions, the report and the alerts' owner resolver."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from scanner.alerts.plan.planner import scan_hook
from scanner.config import Config
from scanner.configfile import parse_config
from scanner.report.build import build_report
from scanner.report.documents import key_document
from scanner.scan.engine import run_scan
from scanner.sources.inventory.asset import CloudAssetSource
from scanner.sources.inventory.export import ExportSource
from scanner.store.tables import Notification, Transition
from tests import assets
from tests.conftest import NOW
from tests.fakes.cloud_asset import serve
from tests.test_asset_live import FAST_RETRY, SERVICES

OWNER_SA = "runner"
LIVE_SA = "gemini"
GONE_SA = "deleted"


def org() -> list[dict[str, Any]]:
    return [
        assets.project("100", "alpha", labels={"team": "payments"}, folder="folders/7"),
        assets.project("200", "beta"),
        assets.service("100", assets.GEMINI),
        assets.iam_policy(
            "projects/100",
            {
                "roles/owner": [
                    "user:alice@example.com",
                    f"serviceAccount:{OWNER_SA}@alpha.iam.gserviceaccount.com",
                ],
                "roles/viewer": ["user:bob@example.com"],
            },
        ),
        assets.iam_policy(
            "projects/200",
            {"roles/viewer": ["user:carol@example.com"], "roles/editor": ["allUsers"]},
        ),
        assets.iam_policy("folders/7", {"roles/owner": ["group:platform@example.com"]}),
        assets.iam_policy(assets.ORG, {"roles/editor": ["user:admin@example.com"]}),
        assets.service_account("100", "alpha", OWNER_SA),
        assets.service_account("100", "alpha", LIVE_SA),
        assets.custom_role("organizations/900000000001/roles/keyAdmin", ["apikeys.keys.create"]),
        assets.key(
            "100",
            uid="k-over",
            targets=[assets.GEMINI],
            server=["192.0.2.1/32"],
            service_account=f"{OWNER_SA}@alpha.iam.gserviceaccount.com",
        ),
        assets.key(
            "100",
            uid="k-gone",
            targets=[assets.GEMINI],
            server=["192.0.2.1/32"],
            service_account=f"{GONE_SA}@alpha.iam.gserviceaccount.com",
        ),
        assets.key(
            "100",
            uid="k-fine",
            targets=[assets.GEMINI],
            server=["192.0.2.1/32"],
            service_account=f"{LIVE_SA}@alpha.iam.gserviceaccount.com",
        ),
        assets.key(
            "200", uid="k-orphan", targets=["maps-backend.googleapis.com"], server=["192.0.2.1/32"]
        ),
    ]


CONFIG = parse_config(
    "ownership: {inherit: true, label_addresses: {payments: [payments@example.com]}}", "c"
)


def rules_by_key(engine: Engine) -> dict[str, tuple[set[str], list[str]]]:
    return {
        k.uid: ({f.rule for f in k.findings}, k.owners) for k in build_report(engine).iter_keys()
    }


def check(found: dict[str, tuple[set[str], list[str]]]) -> None:
    assert "auth-key-overprivileged-service-account" in found["k-over"][0]
    assert "auth-key-missing-service-account" in found["k-gone"][0]
    assert not found["k-fine"][0] & {
        "auth-key-overprivileged-service-account",
        "auth-key-missing-service-account",
        "key-orphaned",
    }
    assert found["k-orphan"][0] == {"key-orphaned"}
    assert found["k-fine"][1] == [
        "alice@example.com",
        "platform@example.com",
        "payments@example.com",
    ]
    assert found["k-orphan"][1] == []


def test_from_an_export(engine: Engine, tmp_path: Path) -> None:
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    run_scan(ExportSource([export], SERVICES), engine, CONFIG, NOW)
    check(rules_by_key(engine))
    projects = build_report(engine).project_findings()
    assert [(p["subject"], p["rule"]) for p in projects] == [
        ("projects/200", "key-admin-granted-broadly")
    ]
    # The grant removed: the project finding resolves, like a key's.
    fixed = [
        assets.iam_policy("projects/200", {"roles/viewer": ["user:carol@example.com"]})
        if a["name"].endswith("projects/200") and "iam_policy" in a
        else a
        for a in org()
    ]
    later = assets.write_ndjson(tmp_path / "fixed.jsonl", fixed)
    run_scan(ExportSource([later], SERVICES), engine, CONFIG, NOW + timedelta(days=1))
    assert build_report(engine).project_findings() == []
    with engine.connect() as conn:
        resolved = conn.execute(
            select(Transition).where(
                Transition.kind == "resolved", Transition.key_name == "projects/200"
            )
        ).all()
    assert [t.rule_id for t in resolved] == ["key-admin-granted-broadly"]
    report = build_report(engine)
    document = key_document(next(k for k in report.iter_keys() if k.uid == "k-fine"))
    # Who can create or change the key: owner on the project, editor on the organization.
    assert document["key_admins"] == [
        "group:platform@example.com",
        f"serviceAccount:{OWNER_SA}@alpha.iam.gserviceaccount.com",
        "user:admin@example.com",
        "user:alice@example.com",
    ]
    assert document["owners"] == [
        "alice@example.com",
        "platform@example.com",
        "payments@example.com",
    ]


def test_from_the_live_source(engine: Engine) -> None:
    with serve(org()) as server:
        source = CloudAssetSource(server.client(), assets.ORG, FAST_RETRY, SERVICES)
        run_scan(source, engine, CONFIG, NOW)
        kinds = {r.content_type for r in server.fake.requests}
    assert kinds == {1, 2}  # RESOURCE and IAM_POLICY
    check(rules_by_key(engine))


def test_without_iam_the_rules_are_skipped_and_the_report_says_so(
    engine: Engine, tmp_path: Path
) -> None:
    plain = [a for a in org() if "iam_policy" not in a]
    export = assets.write_ndjson(tmp_path / "org.jsonl", plain)
    run_scan(ExportSource([export], SERVICES), engine, Config(), NOW)
    report = build_report(engine)
    assert any(n.startswith("ownership not evaluated") for n in report.scan.notes)
    rules = {f.rule for k in report.iter_keys() for f in k.findings}
    assert not rules & {"auth-key-missing-service-account", "key-orphaned"}


def test_alerts_reach_iam_owners(engine: Engine, tmp_path: Path) -> None:
    config = parse_config(
        "alerts: {route: {receiver: owners}, "
        "receivers: [{name: owners, email: {to_owners: true}, digest: {every: 1d}}]}",
        "c",
    )
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    outcome = run_scan(
        ExportSource([export], SERVICES),
        engine,
        config,
        NOW,
        after_history=scan_hook(config.alerts),
    )
    with engine.connect() as conn:
        targets = {n.target for n in conn.execute(select(Notification)).all()}
    assert "alice@example.com" in targets
    assert outcome.stats.alerts["unowned_keys"] == 1  # k-orphan
