"""The leak commands as a user runs them: no key string reaches the database,
the outputs, the logs or the notifications, and nothing runs without the
fingerprint secret."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests import assets, leakdata
from tests.peers import HttpReceiver
from tests.test_cli import run_installed
from tests.test_leaks import (
    ALL_KEYS,
    BY_ID,
    FINGERPRINTER,
    OURS,
    PURGED,
    STRANGER,
    org,
    report_file,
)
from tests.test_worker_process import ROOT


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_installed(*args, cwd=ROOT, env=env)


def test_no_key_string_reaches_the_database_outputs_logs_or_notifications(tmp_path: Path) -> None:

    db_file = tmp_path / "h.db"
    url = f"sqlite:///{db_file}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    env.update({"KEYSENTRY_FINGERPRINT_KEY": leakdata.FINGERPRINT_KEY, "NO_GCE_CHECK": "true"})
    reports = tmp_path / "reports"
    reports.mkdir()
    leakdata.write_json(
        reports / "gitleaks.json",
        [leakdata.gitleaks_finding(OURS), leakdata.gitleaks_finding(STRANGER, "x.js")],
    )
    leakdata.write_lines(reports / "trufflehog.jsonl", [leakdata.trufflehog_finding(BY_ID)])
    leakdata.write_json(
        reports / "github.json", [leakdata.github_alert(OURS, 7), leakdata.github_alert(PURGED, 8)]
    )
    known = leakdata.write_json(
        tmp_path / "fingerprints.json",
        {
            "fingerprints": {
                FINGERPRINTER.of(OURS): "projects/100/locations/global/keys/k-ours",
                FINGERPRINTER.of(BY_ID): "projects/100/locations/global/keys/k-auth",
            }
        },
    )
    outputs: list[str] = []
    with HttpReceiver() as hook:
        config = tmp_path / "keysentry.yaml"
        config.write_text(
            f"alerts:\n  route: {{receiver: feed}}\n  receivers:\n    - name: feed\n"
            f'      webhooks: [{{name: siem, url: "{hook.url}"}}]\n'
        )
        common = ["--config", str(config), "--db", url]
        exports = [assets.write_ndjson(tmp_path / "org.jsonl", org())]
        steps = [
            ["scan", *common, "--from-export", str(exports[0]), "--now", "2026-11-21T00:00:00Z"],
            ["leaks", "import", *common, str(reports), "--lookups-from", str(known)],
            ["leaks", "import", *common, str(reports), "--lookups-from", str(known)],
            ["scan", *common, "--from-export", str(exports[0]), "--now", "2026-11-21T06:00:00Z"],
            ["report", *common, "--format", "json"],
            ["report", *common, "--format", "csv"],
            ["report", *common, "--format", "table"],
            ["leaks", "list", *common, "--format", "json"],
            ["leaks", "list", *common, "--format", "csv"],
            ["leaks", "list", *common],
            ["alerts", "dispatch", *common],
        ]
        for step in steps:
            result = cli(*step, env=env)
            assert result.returncode in (0, 1), (step, result.stderr)
            outputs += [result.stdout, result.stderr]
        bodies = [r.body.decode() for r in hook.requests]
    assert any("key-leaked" in b for b in bodies)  # the leak was sent...
    listed = json.loads(outputs[14])
    assert {r["outcome"] for r in listed} == {"matched", "not_found"}
    assert "2 new report(s)" not in outputs[4]  # the second import added nothing
    everything = "\n".join(outputs + bodies)
    database = db_file.read_bytes()
    for key in ALL_KEYS:  # ...and no string is anywhere
        assert key not in everything and key[4:-4] not in everything
        assert key.encode() not in database and key[4:-4].encode() not in database


def test_leak_commands_refuse_to_run_without_the_fingerprint_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    path = report_file(tmp_path, "r.json", [leakdata.gitleaks_finding(OURS)])
    result = cli("leaks", "import", "--db", f"sqlite:///{tmp_path}/h.db", str(path), env=env)
    assert result.returncode == 2
    assert "KEYSENTRY_FINGERPRINT_KEY is not set" in result.stderr
    assert not (tmp_path / "h.db").exists()
