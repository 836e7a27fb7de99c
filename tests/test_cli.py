"""The `keysentry` command end to end: output, history, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scanner.cli import main
from scanner.rules.catalog import ALL_RULES
from tests import assets

BIN = Path(sys.executable).parent / "keysentry"


def run_installed(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return assets.write_ndjson(tmp_path / "org.jsonl", assets.small_org())


def test_scan_then_report_in_each_format(export: Path, db_url: str, tmp_path: Path) -> None:
    code, out, err = run(
        "scan",
        "--from-export",
        str(export),
        "--db",
        db_url,
        "--now",
        "2026-11-21T00:00:00Z",
        "--format",
        "json",
    )
    assert code == 0, err
    assert "scan 1 succeeded: 5 keys from 9 assets" in err
    doc = json.loads(out)
    assert doc["scan"]["by_status"] == {
        "blocked": 1,
        "non_compliant": 2,
        "compliant": 1,
        "deleted": 1,
    }
    code, out, _ = run("report", "--db", db_url, "--format", "csv")
    assert code == 0 and out.startswith("key_name,project,")
    target = tmp_path / "report.json"
    code, out, _ = run("report", "--db", db_url, "--format", "json", "--output", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["keys"] == doc["keys"]
    code, out, _ = run("report", "--db", db_url)
    assert code == 0 and "blocked: 1" in out


def test_fail_on_exit_codes(export: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    common = ["scan", "--from-export", str(export), "--db", db, "--format", "json"]
    assert run(*common, "--fail-on", "never")[0] == 0
    assert run(*common, "--fail-on", "blocked")[0] == 1
    assert run("report", "--db", db, "--fail-on", "critical")[0] == 1
    auth_only = assets.write_ndjson(
        tmp_path / "auth.jsonl",
        [
            assets.project("100", "alpha"),
            assets.key(
                "100",
                uid="a",
                targets=[assets.GEMINI],
                server=["192.0.2.1/32"],
                service_account="sa@alpha.iam.gserviceaccount.com",
            ),
        ],
    )
    clean = ["scan", "--from-export", str(auth_only), "--db", f"sqlite:///{tmp_path}/c.db"]
    assert run(*clean, "--fail-on", "high")[0] == 0


def test_now_changes_the_verdict(export: Path, tmp_path: Path) -> None:
    """An owner can ask what breaks on a date: before 2026-06-19 nothing is blocked."""
    db = f"sqlite:///{tmp_path}/h.db"
    code, out, _ = run(
        "scan", "--from-export", str(export), "--db", db, "--now", "2026-06-01", "--format", "json"
    )
    assert code == 0
    doc = json.loads(out)
    assert "blocked" not in doc["scan"]["by_status"]
    deadline = next(
        f
        for k in doc["keys"]
        for f in k["findings"]
        if f["rule"] == "gemini-unrestricted-standard-key"
    )
    assert deadline["days_to_deadline"] == 18


def test_report_of_a_past_scan_and_scans_listing(export: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    run("scan", "--from-export", str(export), "--db", db)
    smaller = assets.write_ndjson(tmp_path / "s.jsonl", assets.small_org()[:5])
    run("scan", "--from-export", str(smaller), "--db", db, "--accept-shrink")
    first = json.loads(run("report", "--db", db, "--scan", "1", "--format", "json")[1])
    latest = json.loads(run("report", "--db", db, "--format", "json")[1])
    assert len(first["keys"]) == 5 and len(latest["keys"]) == 1
    code, out, _ = run("scans", "--db", db)
    assert code == 0 and out.splitlines()[0].split()[:2] == ["2", "succeeded"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "--from-export", "/nonexistent.jsonl"], "/nonexistent.jsonl: cannot read"),
        (["scan"], "give exactly one of --org, --folder, --project or --from-export"),
        (["scan", "--org", "1", "--from-export", "x"], "give exactly one"),
        (["scan", "--org", "acme"], "scope 'organizations/acme': expected organizations/NUMBER"),
        (["scan", "--from-export", "x", "--now", "next tuesday"], "--now: not a date"),
        (["report"], "no history database at"),
        (["scans"], "no history database at"),
        (["scan", "--from-export", "x", "--db", "nonsense"], "--db: not a database URL"),
        (["scan", "--from-export", "x", "--db", "sqlite:////no/such/dir/h.db"], "does not exist"),
        (["config", "check", "/nonexistent.yaml"], "/nonexistent.yaml: cannot read config"),
    ],
)
def test_errors_exit_2_with_one_message(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(*args)
    assert code == 2
    assert message in err
    assert err.startswith("keysentry: error:") or err.startswith("Usage:")


def test_unknown_scan_id(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    assert run("db", "upgrade", "--db", db)[0] == 0
    code, _, err = run("report", "--db", db, "--scan", "7")
    assert code == 2 and "--scan 7: no such scan" in err
    code, _, err = run("report", "--db", db)
    assert code == 2 and "no successful scan in the database yet" in err


def test_malformed_export_stores_nothing_and_exits_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(assets.small_org()[4]) + "\n{oops\n")
    code, _, err = run("scan", "--from-export", str(bad), "--db", db)
    assert code == 2 and f"{bad}:2: malformed JSON" in err
    code, out, _ = run("scans", "--db", db)
    assert out.split()[:2] == ["1", "failed"]
    assert run("report", "--db", db)[0] == 2


def test_failed_scan_report_refused(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    run("scan", "--from-export", str(bad), "--db", db)
    code, _, err = run("report", "--db", db, "--scan", "1")
    assert code == 2 and "that scan failed" in err and "recorded no history" in err


def test_output_is_all_or_nothing(export: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "r.json"
    code, _, err = run(
        "scan",
        "--from-export",
        str(export),
        "--db",
        f"sqlite:///{tmp_path}/h.db",
        "--output",
        str(target),
    )
    assert code == 2 and "--output: directory" in err
    assert not target.parent.exists()


def test_rules_and_config_check(tmp_path: Path) -> None:
    code, out, _ = run("rules", "--format", "json")
    rules = {r["id"]: r for r in json.loads(out)}
    assert code == 0 and set(rules) == {m.id for m in ALL_RULES}
    assert rules["gemini-unrestricted-standard-key"]["deadline"] == "2026-06-19"
    assert rules["gemini-dormant-unrestricted-key"]["needs"] == "usage"
    config = tmp_path / "c.yaml"
    config.write_text("rules:\n  disabled: [key-not-rotated]\n")
    code, out, _ = run("config", "check", str(config))
    assert code == 0 and f"{len(ALL_RULES) - 1} rules enabled" in out
    code, out, _ = run("rules", "--config", str(config))
    assert "key-not-rotated  [medium]  [disabled]" in out
    config.write_text("rules:\n  warn_days: soon\n")
    code, _, err = run("config", "check", str(config))
    assert code == 2 and f"{config}: rules.warn_days:" in err


def test_db_upgrade_and_outdated_schema(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    code, out, _ = run("db", "upgrade", "--db", db)
    from scanner.store.db import head_revision

    head = head_revision()
    assert code == 0 and f"schema (empty) -> {head}" in out
    code, out, _ = run("db", "upgrade", "--db", db)
    assert f"already at {head}" in out
    from sqlalchemy import create_engine

    engine = create_engine(db)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    code, _, err = run("report", "--db", db)
    assert code == 2 and "run `keysentry db upgrade`" in err


def test_demo_as_a_new_user_runs_it(tmp_path: Path) -> None:
    """The installed console script, in a fresh directory, as `make demo` runs it."""
    result = run_installed("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "blocked: 6  non_compliant: 15  at_risk: 2  compliant: 4  deleted: 3" in result.stdout
    # The sample exceptions accept two findings; neither key counts as non_compliant.
    assert result.stdout.count("(1 accepted)") == 2
    # ...and one of them lapses ten days after the demo's date: its reminder goes out.
    assert "Exception maps-web-any-referrer lapses on 2026-12-01 (in 10 days)" in result.stdout
    outbox = tmp_path / ".keysentry-demo" / "outbox"
    # The demo scans the day before first (the baseline: overviews and first
    # digests; the approver hears of the lapse), then the day itself: digests
    # that lead with what changed, resolutions at once, the feed's batch.
    assert (
        "succeeded: 29 keys from 62 assets" in result.stderr and "(the day before)" in result.stderr
    )
    assert list(outbox.glob("*-email-security-lead@example.com.eml"))
    assert "by kind: 0 overview, 14 digest, 4 transition, 0 reminder, 1 batch" in result.stdout
    texts = [p.read_text(errors="replace") for p in outbox.iterdir()]
    assert any("NEW checkout prod gemini" in t for t in texts if "digest" in t or "Summary" in t)
    assert "What to do next:" in result.stdout
    # The sample gitleaks report leaks "maps ios"; a usage spike marks "support bot (auth)".
    assert "1 key(s) were found by a secret scanner (maps ios)" in result.stdout
    assert "2 new report(s): 1 matched, 1 not found" in result.stderr
    assert re.search(r"maps ios +li@…com +std +no +1 key-leaked", result.stdout)
    assert "(investigate-usage-spike): 1 key(s): support bot (auth)." in result.stdout
    # The tickets it would open, where, most urgent first (a dry run).
    tickets = result.stdout[result.stdout.index("Tickets it would open") :].splitlines()
    assert "  security-jira: 18 in Jira project SEC" in tickets
    assert "    https://jira.example.com/browse/SEC" in tickets
    assert tickets[tickets.index("    https://jira.example.com/browse/SEC") + 2] == (
        "      critical, overdue since 2023-04-15"
    )
    assert "  payments-servicenow: 5 in the ServiceNow incident table" in tickets
    assert "  (dry run) tickets: scan 2: 23 created; 0 unchanged" in tickets
    assert max(len(line) for line in tickets) <= 80
    assert (tmp_path / ".keysentry-demo" / "keysentry.db").exists()
    again = run_installed("demo", cwd=tmp_path)
    assert "scan 3 succeeded: 30 keys from 63 assets, 0 history rows written" in again.stderr


def test_console_script_exit_code_on_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    result = run_installed("scan", "--from-export", str(bad), "--db", f"sqlite:///{tmp_path}/h.db")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"keysentry: error: {bad}:1: an asset needs 'name' and 'asset_type' (or 'assetType')"
    ]


def test_a_key_string_in_the_input_is_never_stored_or_printed(tmp_path: Path) -> None:
    """Cloud Asset never sends key strings, but a hand-made export might carry one."""
    secret = "AIzaSy" + "FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE0"  # synthetic, 39 characters
    envelope = assets.key("100", uid="leaky")
    envelope["resource"]["data"]["keyString"] = secret
    export = assets.write_ndjson(tmp_path / "org.jsonl", [assets.project("100", "alpha"), envelope])
    db_file = tmp_path / "h.db"
    outputs = []
    for fmt in ("json", "csv", "table"):
        code, out, err = run(
            "scan", "--from-export", str(export), "--db", f"sqlite:///{db_file}", "--format", fmt
        )
        assert code == 0
        outputs.append(out + err)
    assert all(secret not in text for text in outputs)
    for path in tmp_path.glob("h.db*"):
        assert secret.encode() not in path.read_bytes()


def test_output_file_gets_the_usual_mode(export: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    old = os.umask(0o022)
    try:
        code, _, _ = run(
            "scan",
            "--from-export",
            str(export),
            "--db",
            f"sqlite:///{tmp_path}/h.db",
            "--format",
            "csv",
            "--output",
            str(target),
        )
    finally:
        os.umask(old)
    assert code == 0 and target.stat().st_mode & 0o777 == 0o644


def test_live_scan_without_credentials_exits_2(tmp_path: Path) -> None:
    # NO_GCE_CHECK keeps google-auth from probing the metadata server off this machine.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEYSENTRY_", "GOOGLE_", "CLOUDSDK_"))
    }
    env |= {
        "HOME": str(tmp_path),
        "NO_GCE_CHECK": "true",
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
    }
    result = run_installed(
        "scan", "--org", "123456789012", "--db", f"sqlite:///{tmp_path}/h.db", env=env
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keysentry: error: no Google credentials")
    assert "gcloud auth application-default login" in lines[0]
    assert not (tmp_path / "h.db").exists()


def test_every_command_is_listed_and_resolves() -> None:
    code, out, _ = run("--help")
    assert code == 0
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()}
    expected = {
        "scan", "report", "scans", "rules", "run", "alerts", "leaks", "inventory",
        "config", "db", "demo", "history", "changes", "stats", "verify", "evidence", "exceptions",
        "fix", "scc", "tickets", "feed",
    }  # fmt: skip
    assert listed == expected
    for name in sorted(expected):
        code, out, _ = run(name, "--help")
        assert code == 0 and "Usage: " in out and f" {name} " in out, name


def test_reading_history_does_not_load_the_scan_pipeline() -> None:
    """Commands are imported when they run: `report` and `changes` need neither
    the Google client libraries nor alert delivery, which took seconds to import."""
    probe = (
        "import sys\n"
        "from scanner.cli import main\n"
        "for argv in (['report', '--help'], ['changes', '--help'], ['verify', '--help']):\n"
        "    main(argv, standalone_mode=False)\n"
        "heavy = ('scanner.alerts.plan.planner', 'scanner.alerts.delivery.channels', "
        "'google.cloud', 'scanner.scan.engine')\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert "LOADED []" in result.stdout
    scan_probe = probe.replace("['report', '--help'], ", "['scan', '--help'], ")
    loaded = subprocess.run(
        [sys.executable, "-c", scan_probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert "scanner.scan.engine" in loaded.stdout  # the probe can tell
