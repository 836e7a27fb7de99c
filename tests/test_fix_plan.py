"""`keysentry fix plan`: restrictions proposed from per-service usage, with a
confidence from how much of the lookback the usage data covers, through the
real command over a scanned export and saved Monitoring answers."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from scanner.cli import main
from tests import assets
from tests.conftest import NOW

GEMINI = assets.GEMINI
TRANSLATE = "translate.googleapis.com"


def plan_key(name: str = "projects/100/locations/global/keys/k") -> Any:
    """A key's version row as the plan reads it (store.fix_inputs)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        key_name=name,
        uid=name.rsplit("/", 1)[-1],
        project_id="alpha",
        project_number=name.split("/")[1],
        display_name="k",
        etag='W/"k-1"',
        api_targets=[],
    )


CONFIG = """
usage: {enabled: true}
exceptions:
  entries:
    - id: accepted-key
      rules: [gemini-unrestricted-standard-key, key-api-unrestricted]
      keys: [k-accepted]
      reason: a test
      approved_by: lead@example.com
      expires: 2027-01-01
"""


def series(project: str, key: str, service: str, code: str, daily: dict[int, int]) -> Any:
    """A timeSeries as `projects.timeSeries.list` returns it: the shape of
    tests/data/real/usage-timeseries.json."""
    points = [
        {
            "interval": {
                "startTime": (NOW - timedelta(days=ago + 1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endTime": (NOW - timedelta(days=ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "value": {"int64Value": str(count)},
        }
        for ago, count in sorted(daily.items())
    ]
    return {
        "metric": {
            "type": "serviceruntime.googleapis.com/api/request_count",
            "labels": {"response_code_class": code},
        },
        "resource": {
            "type": "consumed_api",
            "labels": {"project_id": project, "service": service, "credential_id": f"apikey:{key}"},
        },
        "metricKind": "DELTA",
        "valueType": "INT64",
        "points": points,
    }


def org() -> list[dict[str, Any]]:
    keys = [
        assets.key("100", uid="k-gemini"),
        assets.key("100", uid="k-idle"),
        assets.key("100", uid="k-both"),
        assets.key("100", uid="k-accepted"),
        assets.key("100", uid="k-fine", targets=[GEMINI], server=["192.0.2.1/32"]),
        assets.key("200", uid="k-beta"),
        assets.key("300", uid="k-gamma"),
    ]
    for key in keys:
        key["resource"]["data"]["etag"] = f'W/"{key["resource"]["data"]["uid"]}-1"'
    projects = [assets.project(n, name) for n, name in (("100", "alpha"), ("200", "beta"))]
    projects.append(assets.project("300", "gamma"))
    services = [assets.service(n, GEMINI) for n in ("100", "200", "300")]
    return [*projects, *services, *keys]


def usage() -> dict[str, Any]:
    return {
        "timeSeries": [
            # alpha's data reaches 95 days back: the whole 90-day lookback.
            series("alpha", "k-gemini", GEMINI, "2xx", {1: 50, 40: 20, 95: 7}),
            series("alpha", "k-gemini", GEMINI, "4xx", {2: 3}),
            series("alpha", "k-both", GEMINI, "2xx", {3: 10}),
            series("alpha", "k-both", TRANSLATE, "2xx", {5: 4}),
            series("alpha", "k-accepted", GEMINI, "2xx", {1: 1}),
            series("alpha", "k-fine", GEMINI, "2xx", {1: 8}),
            # beta's reaches back 10 days of the 90.
            series("beta", "k-beta", TRANSLATE, "2xx", {1: 2, 10: 2}),
        ]
    }


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def scanned(tmp_path: Path, db_url: str) -> list[str]:
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    saved = tmp_path / "usage.json"
    saved.write_text(json.dumps(usage()))
    config = tmp_path / "keysentry.yaml"
    config.write_text(CONFIG)
    common = ["--config", str(config), "--db", db_url]
    code, _, err = run(
        "scan", *common, "--from-export", str(export), "--usage-from", str(saved),
        "--now", NOW.isoformat(), "--output", str(tmp_path / "report.json"),
    )  # fmt: skip
    assert code == 0, err
    return common


def plan(common: list[str], *args: str) -> dict[str, Any]:
    code, out, err = run("fix", "plan", *common, "--format", "json", *args)
    assert code == 0, err
    return dict(json.loads(out))


def by_uid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["uid"]: e for e in document["keys"]}


def test_each_key_is_proposed_what_its_usage_supports(tmp_path: Path, db_url: str) -> None:
    common = scanned(tmp_path, db_url)
    keys = by_uid(plan(common))
    # Nothing to fix, or accepted by an exception: not in the plan.
    assert set(keys) == {"k-gemini", "k-idle", "k-both", "k-beta", "k-gamma"}
    gemini = keys["k-gemini"]
    assert (gemini["action"], gemini["confidence"]) == ("restrict", "high")
    assert gemini["proposed_api_targets"] == [GEMINI]
    assert gemini["etag"] == 'W/"k-gemini-1"' and gemini["current_api_targets"] == []
    (called,) = gemini["evidence"]["services"]
    first = (NOW - timedelta(days=40)).date().isoformat()
    assert called == {
        "service": GEMINI,
        "requests": 73,
        "by_class": {"2xx": 70, "4xx": 3},
        "first_day": first,
        "last_day": (NOW - timedelta(days=1)).date().isoformat(),
    }
    assert gemini["evidence"]["covered_share"] == 1.0
    assert "gemini-unrestricted-standard-key" in gemini["rules"]
    idle = keys["k-idle"]
    assert (idle["action"], idle["confidence"]) == ("review-deletion", "high")
    assert "proposed_api_targets" not in idle
    both = keys["k-both"]
    assert both["action"] == "split" and "proposed_api_targets" not in both
    assert any(TRANSLATE in step for step in both["steps"])
    beta = keys["k-beta"]
    assert (beta["action"], beta["confidence"]) == ("restrict", "low")
    assert beta["proposed_api_targets"] == [TRANSLATE]
    assert (beta["evidence"]["covered_days"], beta["evidence"]["covered_share"]) == (10, 0.111)
    gamma = keys["k-gamma"]
    assert (gamma["action"], gamma["confidence"], gamma["evidence"]) == ("none", "none", None)
    assert plan(common)["counts"] == {"none": 1, "restrict": 2, "review-deletion": 1, "split": 1}


def test_the_plan_narrows_by_rule_project_and_key(tmp_path: Path, db_url: str) -> None:
    common = scanned(tmp_path, db_url)
    assert set(by_uid(plan(common, "--project", "beta"))) == {"k-beta"}
    assert set(by_uid(plan(common, "--project", "100", "--key", "k-idle"))) == {"k-idle"}
    name = "projects/200/locations/global/keys/k-beta"
    assert set(by_uid(plan(common, "--key", name))) == {"k-beta"}
    shared = plan(common, "--rule", "gemini-shared-key")
    assert shared["keys"] == [] and shared["rules"] == ["gemini-shared-key"]
    code, _, err = run("fix", "plan", *common, "--rule", "key-not-rotated")
    assert code == 2 and "--rule key-not-rotated: not an API-restriction rule" in err


def test_the_plan_file_is_the_plan_printed(tmp_path: Path, db_url: str) -> None:
    common = scanned(tmp_path, db_url)
    target = tmp_path / "plan.json"
    code, out, err = run("fix", "plan", *common, "--output", str(target))
    assert code == 0, err
    written = json.loads(target.read_text())
    assert written["schema"] == "keysentry.fix.plan/v1" and written["scan"] == 1
    assert [e["uid"] for e in written["keys"]] == [e["uid"] for e in plan(common)["keys"]]
    # The table names each key by its display name, with its id where two
    # share it (here all are "a key"), with the action and the evidence.
    lines = out.splitlines()
    at = next(n for n, line in enumerate(lines) if "k-beta" in line)
    assert "restrict" in lines[at] and "low" in lines[at]
    # The evidence wraps between words in its column, none cut.
    evidence = " ".join(line[lines[2].index("evidence") :].strip() for line in lines[at : at + 2])
    # By response class: four requests, all answered.
    assert evidence.startswith("translate 4 (2xx 4) in 10 of 90 days")


def test_a_large_plan_shows_its_first_keys_restrictions_first(
    tmp_path: Path, db_url: str, monkeypatch: Any
) -> None:
    common = scanned(tmp_path, db_url)
    monkeypatch.setattr("scanner.cli.fix_plan.TABLE_ROWS", 2)
    code, out, err = run("fix", "plan", *common)
    assert code == 0, err
    assert "The first 2 of 5 keys; all of them with --format json or --output FILE." in out
    shown = re.findall(r"^ a key \((k-[a-z]+)\)", out, re.MULTILINE)
    assert sorted(shown) == ["k-beta", "k-gemini"]  # the two `restrict` entries


def test_confidence_on_each_side_of_full_coverage() -> None:
    """high from the day the data covers the whole lookback; low one day short;
    none without per-service data, or without usage at all."""
    from types import SimpleNamespace

    from scanner.fixes.plan import plan_entry

    key = plan_key()
    called = [
        {"service": TRANSLATE, "requests": 3, "by_class": {"2xx": 3}}
        | {"first_day": "2026-11-01", "last_day": "2026-11-20"}
    ]

    def usage(covered: int | None, services: list[Any] | None = called) -> Any:
        return SimpleNamespace(lookback_days=90, services=services, covered_days=covered)

    gemini = frozenset({GEMINI})
    entries = {
        covered: plan_entry(key, usage(covered), ["key-api-unrestricted"], gemini)
        for covered in (89, 90)
    }
    assert (entries[89]["confidence"], entries[89]["evidence"]["covered_share"]) == ("low", 0.989)
    assert (entries[90]["confidence"], entries[90]["action"]) == ("high", "restrict")
    unrecorded = plan_entry(key, usage(None, None), ["key-api-unrestricted"], gemini)
    assert (unrecorded["confidence"], unrecorded["action"]) == ("none", "none")
    assert "schema 0015" in unrecorded["why"]
    nothing = plan_entry(key, None, ["key-api-unrestricted"], gemini)
    assert (nothing["confidence"], nothing["why"]) == (
        "none",
        "no usage data for the key's project",
    )


def test_a_plan_says_what_its_evidence_is_worth() -> None:
    """Calls that were all refused make a proposal low, and say so; a key
    that called nothing is proposed for a deletion review only when the data
    covers the dormancy window (else the owner's checklist stands); every
    entry says how sure it is and what a wrong guess would break."""
    from types import SimpleNamespace

    from scanner.fixes.plan import plan_entry

    key = plan_key()
    refused = [{"service": GEMINI, "requests": 1209, "by_class": {"4xx": 1209}}]
    gemini = frozenset({GEMINI})

    def usage(covered: int, services: list[Any]) -> Any:
        return SimpleNamespace(lookback_days=90, services=services, covered_days=covered)

    blocked = plan_entry(key, usage(90, refused), ["key-api-unrestricted"], gemini)
    assert blocked["action"] == "restrict" and blocked["confidence"] == "low"
    assert blocked["confidence_reason"].startswith(
        "every request to generativelanguage was refused"
    )
    assert "refused" in blocked["risk"] or "caller" in blocked["risk"]
    short = plan_entry(key, usage(2, []), ["key-api-unrestricted"], gemini, dormancy_days=90)
    assert short["action"] == "none"
    assert short["why"].startswith("no request in the 2 days of usage data: too few")
    whole = plan_entry(key, usage(90, []), ["key-api-unrestricted"], gemini, dormancy_days=90)
    assert whole["action"] == "review-deletion" and "breaks" in whole["risk"]


def test_dormancy_is_not_claimed_on_less_data_than_its_window() -> None:
    from datetime import timedelta

    from scanner.core.models import KeyUsage
    from scanner.rules import gemini_dormant_unrestricted_key
    from tests.test_rules import NOW, ctx, make_key

    old = NOW - timedelta(days=400)

    def dormant(covered: int) -> Any:
        usage = KeyUsage(last_used=None, lookback_days=90, covered_days=covered)
        key = make_key(api_targets=(), created=old, usage=usage)
        return gemini_dormant_unrestricted_key.evaluate(key, ctx())

    assert dormant(2) is None  # two days without a request prove nothing
    found = dormant(90)
    assert found is not None
    assert "No request in the 90 days of usage data" in found.summary
    assert "or more" not in found.summary


def test_a_plan_and_the_owners_checklist_agree_on_an_unused_key() -> None:
    """A key with no request over the whole dormancy window: the plan proposes
    a deletion review, and the owner's dormancy finding points to the same
    step (find out who needs it, delete it, else restrict it), not to a bare
    restriction."""
    from datetime import timedelta
    from types import SimpleNamespace

    from scanner.core.models import KeyUsage
    from scanner.fixes.plan import plan_entry
    from scanner.rules import gemini_dormant_unrestricted_key
    from scanner.rules.checklists import CHECKLISTS
    from tests.test_rules import NOW, ctx, make_key

    usage = KeyUsage(last_used=None, lookback_days=90, covered_days=90)
    key = make_key(api_targets=(), created=NOW - timedelta(days=400), usage=usage)
    dormant = gemini_dormant_unrestricted_key.evaluate(key, ctx())
    assert dormant is not None and dormant.checklist == "remove-unused-key"
    rows = plan_key(key.name)
    stored = SimpleNamespace(lookback_days=90, services=[], covered_days=90)
    entry = plan_entry(rows, stored, [dormant.rule_id], frozenset({GEMINI}), dormancy_days=90)
    assert entry["action"] == "review-deletion"
    steps = " ".join(CHECKLISTS[dormant.checklist].steps)
    assert "delete it" in steps and "restrict" in steps
