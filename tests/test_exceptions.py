"""Exceptions (accepted risk): their validation, every selector, what they do
to a key's status and score, and their lifecycle over simulated days (accept,
expire, revoke) with the transitions and alerts each step gives, on SQLite and
PostgreSQL. Exports are built with tests.assets, whose envelopes follow the
Cloud Asset export samples cited there."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, update

from scanner.alerts.content.render import EmailRenderer
from scanner.alerts.content.webhook_formats import webhook_body
from scanner.alerts.plan.planner import scan_hook
from scanner.cli import main
from scanner.config import Config
from scanner.configfile import parse_config
from scanner.core.errors import ConfigError
from scanner.report.build import build_report
from scanner.report.documents import key_document
from scanner.report.remediation import remediation
from scanner.rules.catalog import ALL_RULES
from scanner.scan.engine import run_scan
from scanner.scan.in_force import in_force_document, judging_changed
from scanner.sources.inventory.export import ExportSource
from scanner.store.chain import verify
from scanner.store.tables import FindingVersion, Notification, Scan, Transition
from tests import assets
from tests.conftest import NOW

TODAY = NOW.date()
ALERTS = """
alerts:
  route: {receiver: security}
  receivers:
    - name: security
      webhooks: [{name: feed, url: "https://feed.example.com/h"}]
"""


def entry(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "maps",
        "rules": ["key-weak-application-restriction"],
        "projects": ["beta"],
        "reason": "The Maps JS key must stay browser-restricted",
        "approved_by": "alice@example.com",
        "expires": str(TODAY + timedelta(days=30)),
    }
    return {k: v for k, v in (base | fields).items() if v is not None}


def config_of(*entries: dict[str, Any], alerts: bool = False, **settings: Any) -> Config:
    section = {"exceptions": {**settings, "entries": list(entries)}}
    text = json.dumps(section) + "\n"  # JSON is YAML
    if alerts:
        text = ALERTS + "\n".join(f"{k}: {json.dumps(v)}" for k, v in section.items())
    return parse_config(text, "test.yaml", today=TODAY)


def org() -> list[dict[str, Any]]:
    return [
        assets.project("100", "alpha", labels={"env": "prod"}, folder="folders/42"),
        assets.project("200", "beta", labels={"env": "sandbox-7"}),
        assets.service("100", assets.GEMINI),
        assets.key("100", uid="k-open", display_name="unrestricted std"),
        assets.key("100", uid="k-open2", display_name="other std"),
        assets.key("200", uid="k-maps", display_name="maps-web", browser=["*"]),
    ]


def scan(engine: Engine, tmp_path: Path, config: Config, days: int = 0) -> list[Any]:
    """Scan org() DAYS after NOW under CONFIG, with alerts planned; the
    notifications it queued."""
    at = NOW + timedelta(days=days)
    export = assets.write_ndjson(tmp_path / f"org-{days}.jsonl", org())
    source = ExportSource([export], config.gemini.project_services)
    hook = scan_hook(config.alerts) if config.alerts.enabled else None
    outcome = run_scan(source, engine, config, at, after_history=hook)
    with engine.connect() as conn:
        return list(
            conn.execute(select(Notification).where(Notification.scan_id == outcome.scan_id))
        )


def finding_events(sent: list[Any]) -> list[tuple[str, str, str]]:
    """(key uid, event, detail) of every finding event the messages carry."""
    return [
        (k["uid"], f["event"], f["event_detail"])
        for n in sent
        for k in n.payload["keys"]
        for f in k["findings"]
        if "event" in f
    ]


def keys(engine: Engine) -> dict[str, dict[str, Any]]:
    return {k.uid: key_document(k) for k in build_report(engine).iter_keys()}


def accepted_rules(document: dict[str, Any]) -> dict[str, str]:
    return {a["rule"]: a["exception"]["id"] for a in document["accepted"]}


def transitions(engine: Engine, rule: str) -> list[tuple[str, str | None]]:
    """The acceptance transitions about RULE, oldest first: (kind, exception)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Transition.kind, Transition.exception_id)
            .where(Transition.kind.in_(("accepted", "acceptance_expired", "acceptance_revoked")))
            .where(Transition.rule_id == rule)
            .order_by(Transition.id)
        )
        return [(r.kind, r.exception_id) for r in rows]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"reason": None}, "exceptions.entries[0].reason: Field required"),
        ({"approved_by": " "}, "exceptions.entries[0].approved_by: must not be blank"),
        ({"expires": None}, "exceptions.entries[0].expires: Field required"),
        (
            {"rules": ["no-such-rule"]},
            "exceptions.entries[0].rules[0]: unknown rule 'no-such-rule'",
        ),
        (
            {"expires": str(TODAY + timedelta(days=181))},
            "exceptions.entries[0].expires: 2027-05-21 is 181 days ahead; "
            "exceptions.max_days allows 180",
        ),
        ({"projects": None}, "exceptions.entries[0]: name what it covers"),
        ({"ticket": "javascript:alert(1)"}, "exceptions.entries[0].ticket: not an"),
        ({"id": "Has Spaces"}, "exceptions.entries[0].id: String should match pattern"),
        ({"folders": ["eng"]}, "exceptions.entries[0].folders: not a folder"),
    ],
)
def test_a_bad_exception_is_a_config_error_naming_its_path(
    change: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        config_of(entry(**change))
    assert expected in str(raised.value)
    assert str(raised.value).startswith("test.yaml: ")


ALL_RULE_IDS = [meta.id for meta in ALL_RULES]
WIDE = "selects every key of the organization; an exception this wide needs `scope: organization`"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"rules": ALL_RULE_IDS, "projects": ["*"]}, f"entries[0]: projects: '*' {WIDE}"),
        ({"projects": ["[a-z]*"]}, f"entries[0]: projects: '[a-z]*' {WIDE}"),
        ({"projects": ["beta", "*"]}, f"entries[0]: projects: '*' {WIDE}"),
        (
            {"projects": None, "display_names": ["*"], "labels": {"env": "?*"}},
            f"entries[0]: display_names: '*', labels.env: '?*' {WIDE}",
        ),
        (
            {"rules": ["key-leaked"], "projects": ["*"]},
            "entries[0].rules[0]: key-leaked is accepted only for keys named in `keys`",
        ),
        (
            {"rules": ["key-leaked"], "projects": ["beta"]},
            "entries[0].rules[0]: key-leaked is accepted only for keys named in `keys`",
        ),
        (
            {"projects": ["*"], "scope": "organization"},
            "entries[0].approved_by: 'alice@example.com' is not one of "
            "exceptions.organization_approvers",
        ),
    ],
)
def test_an_exception_wider_than_its_scope_is_refused(
    change: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        config_of(entry(**change))
    assert expected in str(raised.value)


def test_bounded_and_approved_wide_exceptions_pass() -> None:
    bounded = [
        entry(id="a", projects=["*"], display_names=["legacy *"]),  # the name bounds it
        entry(id="b", projects=None, folders=["folders/42"]),
        entry(id="c", rules=["key-leaked"], projects=None, keys=["k-maps"]),
        entry(id="d", projects=["sandbox-*"]),
    ]
    assert len(config_of(*bounded).exceptions.entries) == 4
    but_leaks = [r for r in ALL_RULE_IDS if r != "key-leaked"]
    everywhere = entry(id="org", rules=but_leaks, projects=["*"], scope="organization")
    approved = config_of(everywhere, organization_approvers=["Alice@example.com"])
    assert approved.exceptions.entries[0].scope == "organization"
    # Not even an approved organization-wide exception accepts a leak.
    leak = entry(id="org", rules=["key-leaked"], projects=["*"], scope="organization")
    with pytest.raises(ConfigError, match="key-leaked is accepted only for keys named"):
        config_of(leak, organization_approvers=["alice@example.com"])


def test_config_check_refuses_an_exception_that_accepts_everything(tmp_path: Path) -> None:
    config = tmp_path / "keysentry.yaml"
    wide = entry(rules=ALL_RULE_IDS, projects=["*"])
    config.write_text(json.dumps({"exceptions": {"entries": [wide]}}))
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert f"{config}: exceptions.entries[0]: projects: '*' {WIDE}" in result.output


def test_a_longer_limit_and_duplicate_ids() -> None:
    far = entry(expires=str(TODAY + timedelta(days=300)))
    assert config_of(far, max_days=365).exceptions.entries[0].id == "maps"
    with pytest.raises(ConfigError, match=r"entries\[1\]\.id: 'maps' is already the id of"):
        config_of(entry(), entry())


def test_entries_from_files_name_their_file(tmp_path: Path) -> None:
    (tmp_path / "exceptions").mkdir()
    good = [entry(id="from-file")]
    (tmp_path / "exceptions" / "a.yaml").write_text(json.dumps(good))
    (tmp_path / "c.yaml").write_text(json.dumps({"exceptions": {"files": ["exceptions/*.yaml"]}}))
    code = CliRunner().invoke(main, ["config", "check", str(tmp_path / "c.yaml")])
    assert code.exit_code == 0 and "1 exceptions" in code.output
    (tmp_path / "exceptions" / "b.yaml").write_text(json.dumps([entry(id="x", reason=None)]))
    bad = CliRunner().invoke(main, ["config", "check", str(tmp_path / "c.yaml")])
    assert bad.exit_code == 2
    assert f"{tmp_path / 'exceptions' / 'b.yaml'}: [0].reason: Field required" in bad.output
    (tmp_path / "c.yaml").write_text(json.dumps({"exceptions": {"files": ["none/*.yaml"]}}))
    missing = CliRunner().invoke(main, ["config", "check", str(tmp_path / "c.yaml")])
    assert missing.exit_code == 2
    assert f"{tmp_path / 'c.yaml'}: exceptions.files[0]: no file matches" in missing.output


def test_a_lapsed_exception_fails_the_check_but_not_a_scan(tmp_path: Path) -> None:
    lapsed = entry(expires="2026-01-01")
    (tmp_path / "c.yaml").write_text(json.dumps({"exceptions": [lapsed]}))
    checked = CliRunner().invoke(main, ["config", "check", str(tmp_path / "c.yaml")])
    assert checked.exit_code == 2
    assert "exceptions.entries[0].expires: 2026-01-01 has come" in checked.output
    export = assets.write_ndjson(tmp_path / "org.jsonl", org())
    scanned = CliRunner().invoke(
        main,
        [
            *("scan", "--from-export", str(export), "--db", f"sqlite:///{tmp_path}/h.db"),
            *("--config", str(tmp_path / "c.yaml"), "--format", "json"),
        ],
    )
    assert scanned.exit_code == 0
    notes = json.loads(scanned.stdout)["scan"]["notes"]
    assert any("exceptions lapsed (their findings count again): maps" in n for n in notes)


@pytest.mark.parametrize(
    "selector",
    [
        {"keys": ["k-maps"]},
        {"keys": ["projects/200/locations/global/keys/k-maps"]},
        {"display_names": ["maps-*"]},
        {"projects": ["be*"]},
        {"projects": ["200"]},
        {"labels": {"env": "sandbox-*"}},
    ],
)
def test_each_selector_accepts_only_what_it_names(
    engine: Engine, tmp_path: Path, selector: dict[str, Any]
) -> None:
    rules = ["key-weak-application-restriction", "key-api-unrestricted"]
    chosen = entry(rules=rules, **({"projects": None} | selector))
    scan(engine, tmp_path, config_of(chosen))
    found = keys(engine)
    assert accepted_rules(found["k-maps"]) == dict.fromkeys(rules, "maps")
    assert found["k-open"]["accepted"] == []  # it has key-api-unrestricted too


def test_a_folder_selector_and_a_selector_that_must_all_match(
    engine: Engine, tmp_path: Path
) -> None:
    in_folder = entry(id="f", projects=None, folders=["folders/42"], rules=["key-api-unrestricted"])
    both = entry(id="both", projects=["alpha"], display_names=["maps-*"])  # no key is both
    scan(engine, tmp_path, config_of(in_folder, both))
    found = keys(engine)
    assert accepted_rules(found["k-open"]) == {"key-api-unrestricted": "f"}
    assert found["k-maps"]["accepted"] == []


def test_an_accepted_block_stays_blocked_and_counts_nothing(engine: Engine, tmp_path: Path) -> None:
    scan(engine, tmp_path, Config())
    scanned_findings = sum(build_report(engine).counts("by_severity").values())
    before = keys(engine)["k-open"]
    every = [f["rule"] for f in before["findings"]]
    everything = entry(id="all", projects=None, keys=["k-open"], rules=every)
    scan(engine, tmp_path, config_of(everything), days=1)
    after = keys(engine)["k-open"]
    assert before["status"] == after["status"] == "blocked"  # rejected by the Gemini API
    assert after["findings"] == [] and sorted(accepted_rules(after)) == sorted(every)
    assert after["score"] == 20  # the blocked bonus alone: accepted findings weigh nothing
    assert after["accepted"][0]["exception"]["approved_by"] == "alice@example.com"
    # --fail-on and the scan's counts leave accepted findings out (a block stays a block).
    counts = build_report(engine).scan.counts
    assert counts["accepted"] == {"findings": len(every)}
    assert sum(counts["by_severity"].values()) == scanned_findings - len(every)
    assert counts["by_status"]["blocked"] >= 1
    maps_accepted = entry(id="m", rules=["key-weak-application-restriction"])
    scan(engine, tmp_path, config_of(maps_accepted), days=2)
    assert keys(engine)["k-maps"]["status"] == "non_compliant"  # other findings still count


def test_lifecycle_accept_expire_revoke_with_alerts(engine: Engine, tmp_path: Path) -> None:
    rule, overdue = "key-weak-application-restriction", "gemini-unrestricted-standard-key"
    plain = parse_config(ALERTS, "test.yaml", today=TODAY)
    scan(engine, tmp_path, plain)  # the baseline: every finding open
    expiring = entry(expires=str(TODAY + timedelta(days=10)))
    open_key = entry(id="open", projects=None, keys=["k-open"], rules=[overdue])
    open_key["expires"] = str(TODAY + timedelta(days=60))
    accepted = scan(engine, tmp_path, config_of(expiring, open_key, alerts=True), days=1)
    assert transitions(engine, rule) == [("accepted", "maps")]
    assert keys(engine)["k-maps"]["accepted"][0]["rule"] == rule
    assert not [e for e in finding_events(accepted) if e[1] != "reminder"]  # accepting: no news
    scan(engine, tmp_path, config_of(expiring, open_key, alerts=True), days=5)
    # Day 10: the weekly overdue reminder of the Gemini rejection comes round,
    # for k-open2 but not for k-open, whose rejection is accepted; and "maps" lapses.
    lapsed = scan(engine, tmp_path, config_of(expiring, open_key, alerts=True), days=10)
    reminded = {uid for uid, event, _ in finding_events(lapsed) if event == "reminder"}
    assert "k-open2" in reminded and "k-open" not in reminded
    assert transitions(engine, rule) == [("accepted", "maps"), ("acceptance_expired", "maps")]
    details = [detail for _, event, detail in finding_events(lapsed) if event == "opened"]
    assert "exception maps expired: the finding counts again" in details
    assert keys(engine)["k-maps"]["accepted"] == []
    renewed = entry(id="maps-2", expires=str(TODAY + timedelta(days=60)))
    scan(engine, tmp_path, config_of(renewed, open_key, alerts=True), days=11)
    assert transitions(engine, rule)[-1] == ("accepted", "maps-2")
    revoked = scan(engine, tmp_path, plain, days=12)
    assert transitions(engine, rule)[-1] == ("acceptance_revoked", "maps-2")
    assert transitions(engine, overdue) == [("accepted", "open"), ("acceptance_revoked", "open")]
    details = [detail for _, event, detail in finding_events(revoked) if event == "opened"]
    assert "exception maps-2 was removed from the config: the finding counts again" in details
    assert verify(engine).broken_at is None
    # Remediation statistics: each acceptance closes the finding as `accepted`
    # (not remediated); each lapse or removal opens it again.
    with engine.connect() as conn:
        stats = remediation(conn, NOW - timedelta(days=1), NOW + timedelta(days=13), "rule")
    maps = next(g for g in stats["groups"] if g["group"] == rule)
    assert (maps["opened"], maps["resolved"], maps["still_open"]) == (3, {"accepted": 2}, 1)
    assert maps["remediated"] == 0
    rejected = next(g for g in stats["groups"] if g["group"] == overdue)
    now_open = [k for k in keys(engine).values() if overdue in [f["rule"] for f in k["findings"]]]
    assert "k-open" in {k["uid"] for k in now_open}
    # Each is open; k-open was also accepted on day 1, and is open again since day 12.
    assert (rejected["resolved"], rejected["still_open"]) == ({"accepted": 1}, len(now_open))
    assert rejected["opened"] == len(now_open) + 1


def test_stale_exceptions_are_named_and_an_edited_acceptance_breaks_the_chain(
    engine: Engine, tmp_path: Path
) -> None:
    nothing = entry(id="nothing", projects=None, display_names=["no-such-*"])
    scan(engine, tmp_path, config_of(entry(), nothing))
    report = build_report(engine)
    assert any("(stale): nothing" in n for n in report.scan.notes)
    assert not any("maps" in n for n in report.scan.notes if "stale" in n)
    with engine.begin() as conn:
        conn.execute(update(FindingVersion).values(accepted_by=None))
    assert verify(engine).broken_at == report.scan.id


def test_an_exception_alone_is_no_config_change(engine: Engine, tmp_path: Path) -> None:
    """Exceptions mark findings, they do not make them: a scan whose only
    change is an exception resolves nothing as config_changed."""
    scan(engine, tmp_path, Config())
    with engine.connect() as conn:
        first = conn.scalar(select(Scan.config_digest).order_by(Scan.id.desc()).limit(1))
        with_exception = in_force_document(config_of(entry()))
        assert not judging_changed(conn, first, "other", with_exception)
        stricter = in_force_document(parse_config("rules: {rotation_days: 30}", "t.yaml"))
        assert judging_changed(conn, first, "other", stricter)


def test_the_evidence_pack_lists_the_exceptions_in_force(engine: Engine, tmp_path: Path) -> None:
    from scanner.evidence.pack import write_pack

    first = entry(expires=str(TODAY + timedelta(days=20)))
    scan(engine, tmp_path, config_of(first))
    scan(engine, tmp_path, config_of(first), days=1)
    renewed = entry(reason="Renewed after review", expires=str(TODAY + timedelta(days=90)))
    scan(engine, tmp_path, config_of(renewed), days=2)
    out = tmp_path / "pack"
    write_pack(engine, NOW - timedelta(days=1), NOW + timedelta(days=3), out)
    listed = json.loads((out / "exceptions.json").read_text())
    assert [(e["id"], e["reason"], len(e["scans"])) for e in listed] == [
        ("maps", "The Maps JS key must stay browser-restricted", 2),
        ("maps", "Renewed after review", 1),
    ]
    assert "Renewed after review" in (out / "index.html").read_text()
    assert (out / "exceptions.csv").read_text().startswith("id,scans,rules,expires,")


def test_reminders_before_an_exception_lapses(engine: Engine, tmp_path: Path) -> None:
    expiring = entry(expires=str(TODAY + timedelta(days=20)))  # remind_days: 14 and 3

    def reminders(days: int) -> list[str]:
        sent = scan(engine, tmp_path, config_of(expiring, alerts=True), days=days)
        events = finding_events(sent)
        return [detail for _, event, detail in events if event == "exception_expiring"]

    assert reminders(0) == []  # 20 days left: no point crossed
    fourteen = reminders(7)
    assert fourteen == [
        "exception maps lapses on 11 Dec 2026 (in 13 days): renew it with a new approval, "
        "or fix the key before the finding counts again"
    ]
    assert reminders(8) == []  # once per point
    assert [d.split(" (")[1].split(")")[0] for d in reminders(18)] == ["in 2 days"]
    assert reminders(20) == []  # lapsed: the transition says so


def test_the_approver_is_mailed_once_per_exception_and_point(
    engine: Engine, tmp_path: Path
) -> None:
    mailing = """
alerts:
  route: {receiver: owners}
  owners: {"*": [owner@example.com]}
  receivers:
    - name: owners
      email: {to_owners: true}
"""
    by_mail = entry(expires=str(TODAY + timedelta(days=20)))
    by_name = entry(id="named", projects=None, keys=["k-open"], rules=["key-api-unrestricted"])
    by_name |= {"approved_by": "Security Lead", "expires": by_mail["expires"]}
    text = mailing + "exceptions: " + json.dumps([by_mail, by_name]) + "\n"
    config = parse_config(text, "test.yaml", today=TODAY)

    def approvers(days: int) -> list[Any]:
        sent = scan(engine, tmp_path, config, days=days)
        return [n for n in sent if n.target != "owner@example.com"]

    assert approvers(0) == []
    (mail,) = approvers(7)
    assert (mail.channel, mail.target, mail.receiver) == ("email", "alice@example.com", "owners")
    assert mail.subject == "[keysentry] exception maps lapses on 11 Dec 2026: 1 finding on 1 key"
    assert [k["uid"] for k in mail.payload["keys"]] == ["k-maps"]
    rendered = EmailRenderer().render(mail.subject, mail.payload)
    assert "which you approved, lapses on 11 Dec 2026 (in 13 days)" in rendered.text
    assert "Why you get this: You approved exception maps." in rendered.html
    assert approvers(8) == []  # once per point
    assert [m.target for m in approvers(18)] == ["alice@example.com"]
    with engine.connect() as conn:  # found accepted: resolved as accepted at once
        stats = remediation(conn, NOW - timedelta(days=1), NOW + timedelta(days=19), "rule")
    maps = next(g for g in stats["groups"] if g["group"] == "key-weak-application-restriction")
    assert (maps["opened"], maps["resolved"], maps["still_open"]) == (1, {"accepted": 1}, 0)


def test_exceptions_list_shows_matches_expiry_and_stale(engine: Engine, tmp_path: Path) -> None:
    soon = entry(expires=str(TODAY + timedelta(days=10)))
    later = entry(id="later", projects=None, keys=["k-open"], rules=["key-api-unrestricted"])
    later["expires"] = str(TODAY + timedelta(days=60))
    nothing = entry(id="nothing", projects=["no-such-project"])
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"exceptions": [soon, later, nothing]}))
    scan(engine, tmp_path, parse_config(config.read_text(), str(config), today=TODAY))
    url = engine.url.render_as_string(hide_password=False)

    def listed(*args: str) -> list[dict[str, Any]]:
        base = ["exceptions", "list", "--config", str(config), "--db", url, "--format", "json"]
        result = CliRunner().invoke(main, [*base, "--now", NOW.isoformat(), *args])
        assert result.exit_code == 0, result.output
        return list(json.loads(result.stdout)["exceptions"])

    every = {e["id"]: (e["state"], e["keys"], e["findings"], e["days_left"]) for e in listed()}
    assert every == {
        "maps": ("active", 1, 1, 10),
        "later": ("active", 1, 1, 60),
        "nothing": ("stale", 0, 0, 30),
    }
    assert [e["id"] for e in listed("--expiring", "30d")] == ["maps", "nothing"]
    assert [e["id"] for e in listed("--stale")] == ["nothing"]
    bad = CliRunner().invoke(
        main, ["exceptions", "list", "--config", str(config), "--db", url, "--expiring", "soon"]
    )
    assert bad.exit_code == 2 and "--expiring: not a duration" in bad.output


def test_a_digest_counts_accepted_keys_and_lists_none(engine: Engine, tmp_path: Path) -> None:
    digest = """
alerts:
  route: {receiver: security}
  receivers:
    - name: security
      email: {to: [security@example.com]}
      digest: {every: 1d}
"""
    scan(engine, tmp_path, Config())
    rules = [f["rule"] for f in keys(engine)["k-maps"]["findings"]]
    everything = "exceptions: " + json.dumps([entry(rules=rules)]) + "\n"
    config = parse_config(digest + everything, "test.yaml", today=TODAY)
    sent = [n for n in scan(engine, tmp_path, config, days=1) if n.kind == "digest"]
    assert len(sent) == 1
    document = sent[0].payload
    assert document["accepted_keys"] == 1
    assert "k-maps" not in {k["uid"] for k in document["keys"]}
    assert {"k-open", "k-open2"} <= {k["uid"] for k in document["keys"]}
    line = "1 more key has findings an exception accepts; they are not listed."
    assert line in EmailRenderer().render(sent[0].subject, document).text
    for fmt in ("generic", "slack", "google_chat", "msteams"):
        body = webhook_body(fmt, document, sent[0].subject, "n-1").decode()
        assert "maps-web" not in body, fmt
        assert fmt == "generic" or line in body, fmt
