"""The sentences owners read are true: a leak comes first, is named in the
subject and is due now; a row's problem and due date are one finding's; a
Gemini finding where the API is off says so and ranks low; a resolution says
what was resolved and what is still open. Each assertion failed on the words
the messages used before."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from scanner.alerts.content.payload import key_document, news_document, news_subject
from scanner.alerts.content.rows import finding_line
from scanner.alerts.facts import Event, FindingFacts, KeyFacts
from scanner.config import AlertsConfig

AT = datetime(2026, 12, 7, tzinfo=UTC)
CONFIG = AlertsConfig()


def key(**changes: object) -> KeyFacts:
    base = KeyFacts(
        name="projects/101/locations/global/keys/k1",
        uid="k1",
        display_name="checkout maps",
        project="checkout-web",
        project_number="101",
        key_type="standard",
        status="blocked",
        score=100,
        owners=("dana@example.com",),
        gemini_enabled=True,
    )
    return base._replace(**changes)  # type: ignore[arg-type]


def finding(rule: str, severity: str, deadline: date | None = None, **more: str) -> FindingFacts:
    kind = more.get("kind")
    entry = more.get("entry")
    return FindingFacts(f"fp-{rule}", rule, severity, "s", "restrict-key", deadline, kind, entry)


UNRESTRICTED = finding(
    "gemini-unrestricted-standard-key",
    "critical",
    date(2026, 6, 19),
    kind="enforced",
    entry="unrestricted-standard-keys-rejected",
)
LEAKED = finding("key-leaked", "critical")


def test_a_leak_comes_first_is_named_and_is_due_now() -> None:
    document = key_document(CONFIG, key(), [UNRESTRICTED, LEAKED], AT)
    assert [f["rule"] for f in document["findings"]] == ["key-leaked", UNRESTRICTED.rule]
    assert document["problem"] == "Key string found by a secret scanner"
    assert document["due"] == "rotate now"
    assert document["findings"][0]["due"] == "rotate now"
    opened = Event("opened", key(), LEAKED, "opened", "i1")
    news = news_document(CONFIG, False, "r", "why", [(key(), [opened])], 1, AT)
    assert "secret scanner" in news_subject(news)


def test_a_key_refused_while_in_use_is_due_now() -> None:
    refused = finding("gemini-key-rejected-in-use", "critical")
    document = key_document(CONFIG, key(key_type="auth"), [refused], AT)
    assert document["due"] == "now: its callers are failing"


def test_a_rows_problem_and_due_are_one_findings() -> None:
    orphaned = finding("key-orphaned", "medium")
    rotation = finding("key-not-rotated", "medium", date(2026, 12, 30), kind="policy")
    document = key_document(CONFIG, key(status="non_compliant"), [rotation, orphaned], AT)
    worst = document["findings"][0]
    assert document["problem"] == worst["title"] and document["due"] == worst["due"]
    assert not (document["problem"] == "Key with no owner" and "30 Dec 2026" in document["due"])


def test_a_gemini_finding_where_gemini_is_off_says_so_and_ranks_low() -> None:
    off = key(gemini_enabled=False, status="non_compliant")
    api = finding("key-api-unrestricted", "high")
    document = key_document(CONFIG, off, [UNRESTRICTED, api], AT)
    assert [f["rule"] for f in document["findings"]] == ["key-api-unrestricted", UNRESTRICTED.rule]
    gemini = document["findings"][1]
    assert gemini["due"] == (
        "would be rejected if it called Gemini; the Gemini API is off in this project"
    )
    assert "rejected since" not in gemini["due"]


def test_a_resolution_says_what_is_still_open() -> None:
    still = key(status="non_compliant")
    resolved = Event("resolved", still, UNRESTRICTED, "fixed", "i2")
    news = news_document(CONFIG, False, "r", "why", [(still, [resolved])], 1, AT)
    subject = news_subject(news)
    assert subject.startswith('[keysentry] resolved: key "checkout maps"')
    assert subject.endswith("; still non_compliant")
    document = news["keys"][0]
    assert document["problem"].startswith("resolved: ")
    assert document["due"] == "still non_compliant: other findings are open"
    assert "rejected since" not in document["due"]
    done = key(status="compliant")
    clean = news_document(
        CONFIG,
        False,
        "r",
        "why",
        [(done, [Event("resolved", done, UNRESTRICTED, "fixed", "i3")])],
        1,
        AT,
    )
    assert clean["keys"][0]["due"] == "nothing left open" and "still" not in news_subject(clean)


def test_each_date_says_where_it_comes_from() -> None:
    """`keysentry rules` gives each deadline's source and the day it was last
    checked, and says where sources disagree: a date is never more certain
    than what is known of it."""
    from click.testing import CliRunner

    from scanner.cli import main

    shown = CliRunner().invoke(main, ["rules", "--format", "json"])
    rules = {r["id"]: r for r in json.loads(shown.output)}
    dated = [r for r in rules.values() if r["deadline"]]
    assert {r["id"] for r in dated} == {
        "gemini-unrestricted-standard-key",
        "gemini-dormant-unrestricted-key",
        "gemini-standard-key",
    }
    for r in dated:
        assert r["deadline_source"] and r["deadline_checked"], r["id"]
    september = rules["gemini-standard-key"]
    assert september["deadline_status"] == "announced"
    assert "not confirmed by google" in september["deadline_disputed"].lower()
    assert "github.com" in september["deadline_source"]  # the observation, beside Google's page
    table = CliRunner().invoke(main, ["rules"]).output
    assert "sources disagree:" in table and "deadline source:" in table


def test_large_counts_read_as_the_subject_writes_them() -> None:
    """A digest of a large organization: 1,102 in the body as in the subject."""
    from scanner.alerts.content.payload import envelope
    from scanner.alerts.content.render import EmailRenderer

    document = envelope(CONFIG, "digest", "digest", "1,422 keys need action", "r", "why", 1, AT)
    document["counts"] = {"blocked": 318, "non_compliant": 1102}
    rendered = EmailRenderer().render("[keysentry] 1,422 of your API keys need action", document)
    assert "non-compliant: 1,102" in rendered.text
    assert "<b>1,102</b> non-compliant" in rendered.html


def test_a_line_does_not_say_its_summary_twice() -> None:
    """Where Gemini is off, the due phrase is the summary: the line says it once."""
    off = key(gemini_enabled=False, status="non_compliant")
    said = "Would be rejected if it called Gemini; the Gemini API is off in this project."
    judged = FindingFacts(
        "fp-off", UNRESTRICTED.rule, "low", said, "restrict-key", date(2026, 6, 19),
        "enforced", "unrestricted-standard-keys-rejected",
    )  # fmt: skip
    (gemini,) = key_document(CONFIG, off, [judged], AT)["findings"]
    assert gemini["due"].lower() == said.rstrip(".").lower()
    assert finding_line(gemini) == "[low] Unrestricted standard key rejected by the Gemini API"
