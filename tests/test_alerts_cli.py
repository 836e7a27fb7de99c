"""The alerts commands end to end, a dispatcher killed between send and
record, the worker delivering what its scans queue, and hostile key names
through every renderer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from collections import Counter
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from scanner.alerts.content.webhook_formats import webhook_body
from scanner.alerts.delivery.dispatch import DirectoryTransport, Dispatcher, NetworkTransport
from scanner.config import Config
from scanner.configfile import parse_config
from scanner.store import db
from scanner.store.tables import Notification
from tests import assets
from tests.conftest import NOW
from tests.peers import HttpReceiver
from tests.test_alerts_planner import org, scan
from tests.test_worker_process import KEYSENTRY, ROOT, running

HOSTILE = [
    "<script>alert(1)</script>",
    "*bold* <!channel> [link](http://evil.example)",
    "line\r\nBcc: victim@example.com",
    "ключ 🔑 " + "x" * 3000,
    "\x1b[2Jcleared \x1b]8;;http://evil.example\x07link\x1b]8;;\x07",
]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KEYSENTRY), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keysentry.yaml"
    path.write_text(text)
    return path


def hook_config(url: str, extra: str = "") -> str:
    return f"""
alerts:
  route: {{receiver: feed}}
  receivers:
    - name: feed
      webhooks: [{{name: siem, url: "{url}", secret_env: HOOK_SECRET}}]
  dispatch: {{lease: 1m}}
{extra}"""


def test_a_dispatcher_killed_between_send_and_record_repeats_once_with_the_same_key(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    engine = db.open_engine(url)
    db.ensure_current(engine)
    with HttpReceiver(secret="s") as hook:
        config_file = write(tmp_path, hook_config(hook.url))
        config = parse_config(config_file.read_text(), "c")
        queued = scan(engine, tmp_path, org()[:4], NOW, config)
        assert len(queued) == 1
        hook.hold.set()  # the receiver takes the request, then holds its answer
        child = subprocess.Popen(
            [str(KEYSENTRY), "alerts", "dispatch", "--config", str(config_file), "--db", url],
            cwd=ROOT,
            env={"HOOK_SECRET": "s", "PATH": "/usr/bin:/bin"},
        )
        with hook.arrived:
            assert hook.arrived.wait_for(lambda: len(hook.requests) == 1, 60)
        child.send_signal(signal.SIGKILL)  # sent, never recorded
        assert child.wait(60) == -signal.SIGKILL
        hook.hold.clear()
        hook.release.set()
        with engine.connect() as conn:
            row = conn.execute(select(Notification)).one()
        assert row.status == "pending" and row.attempts == 0 and row.claimed_until is not None
        # Until its lease lapses nobody else sends it; then it goes once more.
        later = row.claimed_until + timedelta(seconds=1)
        transport = NetworkTransport(config.alerts, {"HOOK_SECRET": "s"})
        early = Dispatcher(engine, config.alerts, transport, lambda: later - timedelta(seconds=2))
        assert early.run_once() == Counter()
        again = Dispatcher(engine, config.alerts, transport, lambda: later)
        assert again.run_once() == Counter({"sent": 1})
        assert again.run_once() == Counter()
    keys = [r.headers["Idempotency-Key"] for r in hook.requests]
    assert keys == [queued[0].dedupe_key] * 2
    engine.dispose()


def test_alerts_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    with HttpReceiver(script=[200, 400], secret="s") as hook:
        config = write(tmp_path, hook_config(hook.url))
        env = {"HOOK_SECRET": "s"}
        scanned = run("scan", "--config", str(config), "--db", url, "--from-export", str(export))
        assert scanned.returncode == 0 and "notifications queued" in scanned.stderr
        pending = run("alerts", "outbox", "--config", str(config), "--db", url)
        assert pending.returncode == 0 and "pending" in pending.stdout
        preview = run("alerts", "preview", "--config", str(config), "--db", url, "--format", "json")
        documents = json.loads(preview.stdout)
        assert {d["target"] for d in documents} == {"siem"}
        assert hook.requests == []  # previews send nothing
        sent = run("alerts", "dispatch", "--config", str(config), "--db", url, env=env)
        assert sent.returncode == 0 and sent.stdout.startswith("sent 1,")
        assert hook.requests[0].signature_ok
        after = run("alerts", "outbox", "--config", str(config), "--db", url, "--status", "sent")
        assert " sent " in after.stdout
        tested = run("alerts", "test", "feed", "--config", str(config), "--db", url, env=env)
        assert tested.returncode == 2 and "webhook siem: failed (permanent): " in tested.stdout
        assert hook.requests[-1].json()["kind"] == "test"
    unknown = run("alerts", "test", "nobody", "--config", str(config), "--db", url)
    assert unknown.returncode == 2 and "no receiver named 'nobody'" in unknown.stderr
    bare = write(tmp_path, "rules: {warn_days: 30}\n")
    none = run("alerts", "dispatch", "--config", str(bare), "--db", url)
    assert none.returncode == 2 and "alerts.route: no alerting configured" in none.stderr


def test_hostile_key_names_are_escaped_everywhere(engine: Engine, tmp_path: Path) -> None:
    config = parse_config(
        """
alerts:
  route: {receiver: team}
  receivers:
    - name: team
      email: {to: [team@example.com]}
      webhooks:
        - {name: slack, url: "https://hooks.example.com/s", format: slack}
        - {name: chat, url: "https://hooks.example.com/c", format: google_chat}
        - {name: teams, url: "https://hooks.example.com/t", format: msteams}
        - {name: raw, url: "https://hooks.example.com/r", format: generic}
""",
        "c.yaml",
    )
    envelopes = [
        assets.project("100", "alpha"),
        *(assets.key("100", uid=f"k-{i}", display_name=name) for i, name in enumerate(HOSTILE)),
        # No display name: the text falls back to the uid, which is input text too.
        assets.key("100", uid="k-\x1b]0;owned\x07", display_name=""),
    ]
    queued = scan(engine, tmp_path, envelopes, NOW, config)
    outbox = DirectoryTransport(tmp_path / "outbox")
    Dispatcher(engine, config.alerts, outbox, lambda: NOW).run_once()
    assert len(outbox.written) == len(queued)
    slack_names: set[str] = set()
    texts, htmls = [], []
    for path in outbox.written:
        data = path.read_bytes()
        if path.suffix == ".eml":
            text, html = check_email(data)
            texts.append(text)
            htmls.append(html)
        else:
            slack_names |= check_webhook(path.name, json.loads(data))
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in html for html in htmls)
    assert any("ключ 🔑" in text for text in texts) and any("ключ 🔑" in h for h in htmls)
    assert all("\x1b" not in t and "\x07" not in t for t in texts)  # no terminal escapes
    # In Slack, names go in plain_text fields, shown as typed.
    assert "Key: *bold* <!channel> [link](http://evil.example)" in slack_names


def check_email(data: bytes) -> tuple[str, str]:
    """Checks one message; returns its text and HTML parts."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert message["Bcc"] is None and "\r" not in message["Subject"]
    assert len(message["Subject"]) <= 200
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<script>" not in html and "<!channel>" not in html
    assert "\r" not in text.replace("\r\n", "\n")
    return text, html


def check_webhook(name: str, body: dict[str, Any]) -> set[str]:
    """Checks one body; for Slack, returns the key names it shows."""
    flat = json.dumps(body, ensure_ascii=False)
    if "slack" in name:
        markdown = [body["text"]] + [
            block["text"]["text"]
            for block in body["blocks"]
            if block.get("text", {}).get("type") == "mrkdwn"
        ]
        assert all("<!channel>" not in text and "<script>" not in text for text in markdown)
        return {
            field["text"]
            for block in body["blocks"]
            for field in block.get("fields", [])
            if field["text"].startswith("Key: ")
        }
    if "chat" in name:
        formatted = [
            w["textParagraph"]["text"]
            for section in body["cardsV2"][0]["card"]["sections"]
            for w in section["widgets"]
            if "textParagraph" in w
        ] + [s.get("header", "") for s in body["cardsV2"][0]["card"]["sections"]]
        assert all("<script>" not in text and "<!channel>" not in text for text in formatted)
        assert "text" not in body
    elif "teams" in name:
        # User text goes in TextRuns, which Teams never parses as markdown: it
        # arrives as typed, with no backslash escapes a client might show.
        card = body["attachments"][0]["content"]
        assert all(block["type"] != "TextBlock" for block in card["body"])
        assert "\\*" not in flat and "\\[" not in flat
    else:
        assert body["schema"] == "keysentry.notification/v2"
    return set()


def test_the_worker_delivers_what_its_scans_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s")  # the worker process inherits it
    with HttpReceiver(secret="s") as hook:
        config = write(
            tmp_path,
            hook_config(hook.url) + "schedule: {interval: 1h, jitter: 0s}\n",
        )
        args = [
            str(KEYSENTRY),
            "run",
            "--config",
            str(config),
            "--db",
            f"sqlite:///{tmp_path}/h.db",
        ]
        args += ["--from-export", str(assets.write_ndjson(tmp_path / "o.jsonl", org()))]
        args += ["--listen", "127.0.0.1:0"]
        with running(args) as worker:
            worker.wait_for(r"alert dispatch: ")
            base = "http://" + worker.wait_for(r"listening on http://(\S+) ").group(1)
            with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
                metrics = response.read().decode()
            worker.proc.send_signal(signal.SIGTERM)
            assert worker.finish()[0] == 0
    assert hook.requests and all(r.signature_ok for r in hook.requests)
    sent = len(hook.requests)
    overviews = 'keysentry_notifications_total{channel="webhook",kind="overview",outcome="sent"}'
    assert f"{overviews} {sent}.0" in metrics
    assert 'keysentry_outbox_pending{channel="webhook"} 0.0' in metrics


def test_demo_writes_its_notifications_without_network(tmp_path: Path) -> None:
    first = subprocess.run(
        [str(KEYSENTRY), "demo"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    outbox = tmp_path / ".keysentry-demo" / "outbox"
    files = sorted(outbox.iterdir())
    assert "messages written to .keysentry-demo/outbox/" in first.stdout
    assert any(f.suffix == ".eml" for f in files) and any(f.suffix == ".json" for f in files)
    second = subprocess.run(
        [str(KEYSENTRY), "demo"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert "Nothing new to send" in second.stdout
    assert sorted(outbox.iterdir()) == files


def test_every_webhook_format_carries_the_subject(engine: Engine, tmp_path: Path) -> None:
    config: Config = parse_config(hook_config("https://h.example.com/x"), "c")
    queued = scan(engine, tmp_path, org()[:4], NOW, config)
    subject = queued[0].subject
    for fmt in ("slack", "google_chat", "msteams"):
        body = json.loads(webhook_body(fmt, queued[0].payload, subject, queued[0].dedupe_key))
        shown = json.dumps(body, ensure_ascii=False)
        assert queued[0].payload["detail"] in shown, fmt  # "First scan of your keys: ..."
    generic = json.loads(webhook_body("generic", queued[0].payload, subject, queued[0].dedupe_key))
    assert generic["id"] == queued[0].dedupe_key and generic["keys"][0]["uid"] == "k-open"


def test_preview_speaks_as_of_the_scan(tmp_path: Path) -> None:
    """One clock: a preview words the latest scan's findings as of that scan,
    not as of the wall clock, unless --now says otherwise."""
    url = f"sqlite:///{tmp_path}/h.db"
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    with HttpReceiver() as hook:
        config = write(tmp_path, hook_config(hook.url))
        scanned = run(
            "scan",
            "--config",
            str(config),
            "--db",
            url,
            "--from-export",
            str(export),
            "--now",
            "2026-11-21T00:00:00Z",
        )
        assert scanned.returncode == 0, scanned.stderr
        common = ("alerts", "preview", "--config", str(config), "--db", url, "--format", "json")
        as_scanned = json.loads(run(*common).stdout)
        later = json.loads(run(*common, "--now", "2026-12-07").stdout)
    assert as_scanned and later
    assert {d["document"]["evaluated_at"] for d in as_scanned} == {"2026-11-21T00:00:00+00:00"}
    assert {d["document"]["evaluated_at"] for d in later} == {"2026-12-07T00:00:00+00:00"}
