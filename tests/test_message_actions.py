"""What an owner can do from a message: the key's history command, and an
exception request for the exceptions file that, once its reason and approver
are filled in, passes `config check` and accepts the findings at the next
scan. Through the installed command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests import assets
from tests.test_cli import run_installed

KEY = "projects/100/locations/global/keys/k-open"
ALERTS = {
    "alerts": {
        "route": {"receiver": "owners"},
        "receivers": [{"name": "owners", "email": {"to": ["dana@example.com"]}}],
        "smtp": {"sender": "keysentry@example.com"},
    }
}


def keysentry(*args: str) -> str:
    result = run_installed(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_an_exception_request_from_a_message_accepts_the_findings(tmp_path: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'h.db'}"]
    export = assets.write_ndjson(
        tmp_path / "org.jsonl",
        [assets.project("100", "alpha"), assets.key("100", uid="k-open", display_name="open")],
    )
    config = tmp_path / "keysentry.yaml"
    config.write_text(yaml.safe_dump(ALERTS))
    common = ["--config", str(config), *db]
    keysentry("scan", *common, "--from-export", str(export), "--now", "2026-11-21")

    documents = json.loads(keysentry("alerts", "preview", *common, "--format", "json"))
    (key,) = [k for d in documents for k in d["document"]["keys"] if k["name"] == KEY]
    actions: dict[str, Any] = key["actions"]
    assert actions["history"] == f"keysentry history key {KEY}"
    # The command runs as printed (with the database it reads).
    assert keysentry(*actions["history"].split()[1:], *db).startswith(f"{KEY}\nopen: project")
    (entry,) = yaml.safe_load(actions["exception_request"])
    assert entry["keys"] == [KEY] and entry["reason"].startswith("FILL IN")
    open_rules = {f["rule"] for f in key["findings"]}
    assert set(entry["rules"]) == open_rules

    text = keysentry("alerts", "preview", *common)
    assert f"History:   keysentry history key {KEY}" in text
    assert "To ask for an exception instead" in text and f"    - id: {entry['id']}" in text

    # The team fills it in and adds it: it checks, and the findings are accepted.
    entry |= {"reason": "internal tool behind a proxy", "approved_by": "sec@example.com"}
    config.write_text(yaml.safe_dump(ALERTS | {"exceptions": {"entries": [entry]}}))
    assert "ok" in keysentry("config", "check", str(config)).lower()
    keysentry("scan", *common, "--from-export", str(export), "--now", "2026-11-22")
    report = json.loads(keysentry("report", *db, "--format", "json"))
    (judged,) = [k for k in report["keys"] if k["name"] == KEY]
    assert judged["findings"] == []
    assert {f["rule"] for f in judged["accepted"]} == open_rules
