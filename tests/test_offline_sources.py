"""Usage and key events from saved files (`--usage-from`, `--audit-from`), as
an offline scan and the demo use them; bad files fail with one clear line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.test_worker_process import DEMO, KEYSENTRY, ROOT

SAMPLES = ROOT / "scanner" / "samples"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KEYSENTRY), *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_an_offline_scan_with_saved_usage_and_audit_logs(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/h.db"
    scanned = run(
        "scan",
        "--from-export",
        str(DEMO),
        "--db",
        db,
        "--now",
        "2026-11-21T00:00:00Z",
        "--usage-from",
        str(SAMPLES / "demo-usage.json"),
        "--audit-from",
        str(SAMPLES / "demo-audit.json"),
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert scanned.returncode == 0, scanned.stderr
    keys = {k["display_name"]: k for k in json.loads(scanned.stdout)["keys"]}
    pipeline = keys["pipeline unrestricted"]
    assert pipeline["requests_7d"] == 1209 and pipeline["gemini_rejected_7d"] == 1209
    assert "gemini-key-rejected-in-use" in {f["rule"] for f in pipeline["findings"]}
    # The sample usage covers 28 days of support-bot: too few to call a key
    # dormant for 90, though it served no request; it is blocked all the same.
    old_support = keys["old support key"]
    assert "gemini-dormant-unrestricted-key" not in {f["rule"] for f in old_support["findings"]}
    assert old_support["usage_covered_days"] == 28 and old_support["status"] == "blocked"
    assert keys["student key"]["restrictions_removed"]["by"] == "intern@example.com"
    assert keys["checkout assistant (auth)"]["creator"] == "dana@example.com"
    # legacy-reports' series carry no credential: its keys' usage is unknown.
    assert keys["reports sheets"]["requests_7d"] is None


def test_bad_saved_files_fail_with_one_line(tmp_path: Path) -> None:
    usage = tmp_path / "usage.json"
    usage.write_text(json.dumps({"timeSeries": [{"resource": {"labels": {}}, "points": []}]}))
    audit = tmp_path / "audit.json"
    audit.write_text('{"not": "a list"}')
    db = f"sqlite:///{tmp_path}/h.db"
    bad_usage = run(
        "scan", "--from-export", str(DEMO), "--db", db, "--usage-from", str(usage), cwd=tmp_path
    )
    assert bad_usage.returncode == 2
    assert bad_usage.stderr == (
        f"keysentry: error: {usage}:1: series 1: resource.labels.project_id is required\n"
    )
    bad_audit = run(
        "scan", "--from-export", str(DEMO), "--db", db, "--audit-from", str(audit), cwd=tmp_path
    )
    assert bad_audit.returncode == 2
    assert bad_audit.stderr.startswith(f"keysentry: error: {audit}: expected the JSON array")
    assert bad_audit.stderr.count("\n") == 1


def test_alerts_say_who_removed_a_keys_restrictions(tmp_path: Path) -> None:
    demo = run("demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    mails = [p.read_text() for p in (tmp_path / ".keysentry-demo" / "outbox").glob("*.eml")]
    assert any("Restrictions removed by intern@example.com on 12 Nov 2026" in m for m in mails)
    assert any("Created by: dana@example.com" in m for m in mails)
