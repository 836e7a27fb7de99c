"""What reaches a person: words for each kind of deadline and resolution,
merged checklists without the steps that cannot apply, a summary first, why
the recipient gets the message, and every channel's size limits on a digest
of 500 keys, on SQLite and PostgreSQL. The HTML email is rendered in a real
headless Chromium at 600 px. Exports are built with tests.assets, whose
envelopes follow the Cloud Asset export samples cited there."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from scanner.alerts.content.limits import CHAT_BYTES, EMAIL_BYTES, SLACK_BLOCKS, TEAMS_BYTES
from scanner.alerts.content.message import build_message
from scanner.alerts.content.render import EmailRenderer
from scanner.alerts.content.steps import merged_checklists
from scanner.alerts.content.webhook_formats import webhook_body
from scanner.alerts.content.why import why
from scanner.alerts.content.wording import deadline_phrase, human_time, plural, usage_phrase
from scanner.alerts.facts import KeyFacts, Target
from scanner.alerts.plan.planner import scan_hook
from scanner.config import Config
from scanner.configfile import parse_config
from scanner.scan.engine import run_scan
from scanner.sources.inventory.export import ExportSource
from scanner.store.tables import Notification
from tests import assets
from tests.browser import chromium, need_chromium
from tests.conftest import NOW

FORMATS = ("slack", "google_chat", "msteams", "generic")


def config_of(text: str) -> Config:
    return parse_config(text, "test.yaml", today=NOW.date())


def scan(
    engine: Engine, tmp_path: Path, envelopes: list[dict[str, Any]], at: datetime, config: Config
) -> list[Any]:
    export = assets.write_ndjson(tmp_path / f"org-{at:%Y%m%d%H}.jsonl", envelopes)
    source = ExportSource([export], config.gemini.project_services)
    outcome = run_scan(source, engine, config, at, after_history=scan_hook(config.alerts))
    with engine.connect() as conn:
        query = select(Notification).where(Notification.scan_id == outcome.scan_id)
        return list(conn.execute(query.order_by(Notification.id)))


def test_deadlines_are_worded_by_their_kind() -> None:
    assert deadline_phrase("2026-06-19", "enforced", -155) == "rejected since 19 Jun 2026"
    assert deadline_phrase("2027-01-10", "enforced", 50) == "rejected from 10 Jan 2027 (in 50 days)"
    # An announced date that passed: passed, and not confirmed by Google.
    assert deadline_phrase("2026-09-01", "announced", -81) == (
        "past the announced date of 1 Sep 2026 (81 days ago), not confirmed by Google"
    )
    assert deadline_phrase("2026-12-01", "policy", 1) == "due 1 Dec 2026 (tomorrow)"
    assert deadline_phrase("2026-11-01", "policy", -1) == "overdue since 1 Nov 2026 (1 day)"
    assert deadline_phrase(None, None, None) == "no deadline"
    assert plural(1, "key") == "1 key" and plural(1544, "day") == "1,544 days"
    assert human_time("2026-11-21T00:00:00+00:00", "Europe/Paris") == "21 Nov 2026, 01:00 CET"
    at = datetime(2026, 11, 21, tzinfo=UTC)
    assert usage_phrase(None, 0, at) == "no requests seen"
    assert usage_phrase("2026-10-01T00:00:00+00:00", 0, at).startswith(
        "unused for 7 days; last used 1 Oct 2026"
    )
    assert usage_phrase(None, None, at) == "usage not read"


def test_a_bad_time_zone_or_link_names_its_path() -> None:
    from scanner.core.errors import ConfigError

    base = "alerts: {route: {receiver: a}, receivers: [{name: a, email: {to: [a@x.y]}}], "
    for extra, message in [
        ("timezone: Mars/Olympus}", "alerts.timezone: not a time zone: 'Mars/Olympus'"),
        ("links: {exceptions: 'ftp://x'}}", "alerts.links.exceptions: not an http(s) URL"),
        ("contact: nobody}", "alerts.contact: not an email address"),
        ("reminders: {overdue_every: 7d, max_overdue: 1d}}", "alerts.reminders: max_overdue"),
    ]:
        with pytest.raises(ConfigError) as caught:
            config_of(base + extra)
        assert message in str(caught.value), str(caught.value)


def key_facts(**fields: Any) -> KeyFacts:
    base: dict[str, Any] = {
        "name": "projects/1/locations/global/keys/k",
        "uid": "k",
        "display_name": "k",
        "project": "p",
        "project_number": "1",
        "key_type": "standard",
        "status": "non_compliant",
        "score": 40,
    }
    return KeyFacts(**(base | fields))


def test_checklists_merge_and_leave_out_what_cannot_apply() -> None:
    def steps(key: KeyFacts, *ids: str) -> dict[str, list[str]]:
        return {c["id"]: c["steps"] for c in merged_checklists(key, list(ids))}

    unrestricted = steps(key_facts(gemini_enabled=True), "restrict-key", "restrict-key")
    assert list(unrestricted) == ["restrict-key"]  # once
    assert unrestricted["restrict-key"][0].startswith("If the key is only for Gemini")
    gemini_off = steps(key_facts(gemini_enabled=False), "restrict-key")["restrict-key"]
    assert not any("Gemini" in step for step in gemini_off)
    limited = steps(key_facts(api_targets=("maps-backend.googleapis.com",)), "restrict-key")
    assert not any("marked Unrestricted" in s for s in limited["restrict-key"])
    auth = steps(key_facts(key_type="auth"), "migrate-to-auth-key")["migrate-to-auth-key"]
    assert not any("old standard key" in step for step in auth)
    assert merged_checklists(key_facts(), ["a-checklist-of-a-later-version"]) == []


BIG = """
alerts:
  route: {receiver: team}
  timezone: America/New_York
  contact: security@example.com
  links:
    exceptions: https://wiki.example.com/keys/exceptions
    report: https://grafana.example.com/d/keysentry
  overflow: {max_parts: 4}
  receivers:
    - name: team
      email: {to: [team@example.com]}
      webhooks:
        - {name: slack, url: "https://hooks.example.com/s", format: slack}
        - {name: google_chat, url: "https://hooks.example.com/c", format: google_chat}
        - {name: msteams, url: "https://hooks.example.com/t", format: msteams}
        - {name: generic, url: "https://hooks.example.com/g", format: generic}
      digest: {every: 1d, max_keys: 500}
"""


def big_org(keys: int) -> list[dict[str, Any]]:
    envelopes = [assets.project("100", "alpha"), assets.service("100", assets.GEMINI)]
    created = (NOW - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for i in range(keys):
        # Unrestricted and old: several findings, three checklists per key.
        name = f"key {i:03d} <b>&amp;</b> " + "x" * 40
        envelopes.append(assets.key("100", uid=f"k-{i:03d}", display_name=name, created=created))
    return envelopes


def slack_limits(body: dict[str, Any]) -> None:
    assert len(body["blocks"]) <= SLACK_BLOCKS
    for block in body["blocks"]:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= (150 if block["type"] == "header" else 3000)
        assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        assert len(block.get("fields", [])) <= 10


def test_a_digest_of_500_keys_stays_inside_every_channel(engine: Engine, tmp_path: Path) -> None:
    config = config_of(BIG)
    sent = scan(engine, tmp_path, big_org(500), NOW, config)
    by_target: dict[str, list[Any]] = {}
    for n in sent:
        by_target.setdefault(n.target, []).append(n)
    assert set(by_target) == {"team@example.com", *FORMATS}
    for target, parts in by_target.items():
        assert 1 <= len(parts) <= 4, target
        listed = [k["uid"] for p in parts for k in p.payload["keys"]]
        assert len(listed) == len(set(listed))  # no key twice
        # Nothing is lost silently: what is not listed is counted in the last part.
        assert len(listed) + parts[-1].payload["omitted_keys"] == 500, target
        assert [p.payload.get("part", {}).get("index", 1) for p in parts] == list(
            range(1, len(parts) + 1)
        )
        for part in parts:
            if part.channel == "email":
                rendered = EmailRenderer().render(part.subject, part.payload)
                message = build_message(config.alerts.smtp, target, rendered, "id", True)
                assert len(message.as_bytes()) < EMAIL_BYTES
                continue
            body = webhook_body(target, part.payload, part.subject, part.dedupe_key)
            if target == "slack":
                slack_limits(json.loads(body))
            elif target == "google_chat":
                assert len(body) <= CHAT_BYTES
            elif target == "msteams":
                assert len(body) <= TEAMS_BYTES
    # A part that cannot hold the rest says how many are left and where they are.
    last = by_target["slack"][-1]
    if last.payload["omitted_keys"]:
        shown = webhook_body("slack", last.payload, last.subject, "x").decode()
        assert f"and {last.payload['omitted_keys']:,} more keys" in shown
        assert "https://grafana.example.com/d/keysentry" in shown
    # Teams cards carry the links and the checklists.
    teams = webhook_body("msteams", by_target["msteams"][0].payload, "s", "x").decode()
    assert "Action.OpenUrl" in teams and "Restrict the key to the APIs it needs" in teams
    assert "https://wiki.example.com/keys/exceptions" in teams


def test_one_message_per_key_with_reasons_and_no_checklist_on_resolution(
    engine: Engine, tmp_path: Path
) -> None:
    config = config_of(
        """
alerts:
  route: {receiver: owners}
  owners: {"alpha": [alice@example.com]}
  receivers:
    - {name: owners, email: {to_owners: true}, timezone: Asia/Tokyo}
"""
    )
    base = [assets.project("100", "alpha"), assets.service("100", assets.GEMINI)]
    scan(engine, tmp_path, base, NOW, config)
    # A new unrestricted key: three findings, one message, each checklist once.
    opened = scan(
        engine, tmp_path, [*base, assets.key("100", uid="k-new")], NOW + timedelta(hours=6), config
    )
    assert len(opened) == 1 and opened[0].kind == "batch"
    (key,) = opened[0].payload["keys"]
    assert len(key["findings"]) >= 2 and {f["event"] for f in key["findings"]} == {"opened"}
    ids = [c["id"] for c in key["checklists"]]
    assert len(ids) == len(set(ids)) and "restrict-key" in ids
    text = EmailRenderer().render(opened[0].subject, opened[0].payload).text
    assert "as of 21 Nov 2026, 15:00 JST" in text  # the receiver's own time zone
    assert "Why you get this: alerts.owners names you for project alpha." in text
    assert "keysentry report" not in text and "+00:00" not in text
    # Restricted the next day: resolved as fixed, with no checklist at all.
    fixed_key = assets.key(
        "100", uid="k-new", targets=["maps-backend.googleapis.com"], server=["192.0.2.1/32"]
    )
    fixed = scan(engine, tmp_path, [*base, fixed_key], NOW + timedelta(days=1), config)
    resolved = [
        f
        for n in fixed
        for k in n.payload["keys"]
        for f in k["findings"]
        if f.get("event") == "resolved"
    ]
    assert resolved and {f["event_detail"] for f in resolved} == {
        "fixed: the key no longer matches the rule"
    }
    text = EmailRenderer().render(fixed[0].subject, fixed[0].payload).text
    assert (
        "resolved: Key without API restrictions (fixed: the key no longer matches the rule)" in text
    )
    assert "Restrict the key to the APIs it needs" not in text  # no checklist on a fix


def test_the_first_scan_of_100_keys_sends_each_recipient_one_overview(
    engine: Engine, tmp_path: Path
) -> None:
    config = config_of(
        """
alerts:
  route: {receiver: feed}
  receivers:
    - name: feed
      webhooks: [{name: siem, url: "https://siem.example.com/h", format: generic}]
"""
    )
    first = scan(engine, tmp_path, big_org(100), NOW, config)
    assert [n.kind for n in first] == ["overview"]
    second = scan(engine, tmp_path, big_org(100), NOW + timedelta(days=8), config)
    assert [n.kind for n in second] == ["batch"]  # the week's overdue reminders, together
    assert len(second[0].payload["keys"]) == 100


def test_the_digest_email_fits_600_pixels_in_chromium(engine: Engine, tmp_path: Path) -> None:
    need_chromium()
    if engine.dialect.name != "sqlite":
        pytest.skip("the message is the same whatever the database; rendered once")
    config = config_of(BIG)
    sent = scan(engine, tmp_path, big_org(30), NOW, config)
    digest = next(n for n in sent if n.channel == "email")
    html = EmailRenderer().render(digest.subject, digest.payload).html
    assert "<script" not in html
    # A copy with a probe that writes the page's widths into the DOM it dumps.
    probe = (
        "<script>window.onload=function(){var e=document.documentElement;"
        "document.body.setAttribute('data-widths',e.scrollWidth+'/'+e.clientWidth);"
        "var t=document.getElementById('summary');"
        "document.body.setAttribute('data-summary',t?t.rows.length+'/'+t.offsetHeight:'none');}"
        "</script></body>"
    )
    page = tmp_path / "digest.html"
    page.write_text(html.replace("</body>", probe))
    nowhere = "http://127.0.0.1:9"  # the email fetches nothing; if it tried, it would fail
    dom = chromium(page, nowhere, "--dump-dom", window="600,3000")
    assert dom.returncode == 0, dom.stderr[-2000:]
    widths = re.search(r'data-widths="(\d+)/(\d+)"', dom.stdout)
    assert widths is not None, dom.stdout[:500]
    assert int(widths.group(1)) <= int(widths.group(2))  # no horizontal overflow
    summary = re.search(r'data-summary="(\d+)/(\d+)"', dom.stdout)
    rows = len(digest.payload["keys"]) + 1  # and a heading
    assert summary is not None and int(summary.group(1)) == rows and int(summary.group(2)) > 100
    shot = tmp_path / "digest.png"
    taken = chromium(page, nowhere, f"--screenshot={shot}", window="600,3000")
    assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("KEYSENTRY_KEEP_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / "digest-600px.png")


def test_why_says_how_the_recipient_is_reached() -> None:
    config = config_of(
        """
alerts:
  route: {receiver: owners}
  owners: {"alpha": [alice@example.com]}
  receivers:
    - {name: owners, email: {to_owners: true}}
    - {name: security, email: {to: [sec@example.com]}, webhooks: [{name: feed, url: "https://f.example.com/h"}]}
"""
    ).alerts
    made = key_facts(
        display_name="dana's key", creator="Dana@example.com", owners=("dana@example.com",)
    )
    assert why(config, Target("owners", "email", "dana@example.com"), [made]) == (
        "You created key dana's key."
    )
    owned = key_facts(owners=("li@example.com",))
    assert why(config, Target("owners", "email", "li@example.com"), [owned]) == (
        "You are an owner of project p (roles/owner on it or an ancestor, or its owner or team "
        "label)."
    )
    named = key_facts(project="alpha")
    assert why(config, Target("owners", "email", "alice@example.com"), [named]) == (
        "alerts.owners names you for project alpha."
    )
    assert why(config, Target("security", "email", "sec@example.com"), [named]) == (
        "You are on the list of receiver security."
    )
    assert why(config, Target("security", "webhook", "feed"), [named]) == (
        "This channel is webhook feed of receiver security."
    )
    nobody = why(config, Target("owners", "email", "someone@example.com"), [key_facts()])
    assert (
        nobody
        == "No owner is known for project p: you get its keys as receiver owners, the fallback."
    )
