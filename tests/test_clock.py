"""A key's judgement changes with the clock only where scanner.rules.clock says
it can: for any key, configuration and two instants with none of its changes
between them, `assess` gives the same findings, status and score. A scan keeps
an unchanged key's last judgement on this promise (scanner.scan.reuse)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.config import Config, RulesConfig
from scanner.config.exceptions import ExceptionEntry, ExceptionsConfig
from scanner.core.models import (
    AppRestriction,
    KeyAssessment,
    KeyRecord,
    KeyStatus,
    KeyType,
    KeyUsage,
)
from scanner.exceptions.matching import ExceptionsInForce
from scanner.rules.base import Rule, RuleContext
from scanner.rules.catalog import RULES, VERDICT_RULES
from scanner.rules.clock import key_changes, scan_changes, unchanged_between
from scanner.rules.verdict import assess

GEMINI = "generativelanguage.googleapis.com"
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = 3 * 365 * 86400  # seconds: the default timeline's dates fall inside


def instants() -> st.SearchStrategy[datetime]:
    return st.integers(0, SPAN).map(lambda s: START + timedelta(seconds=s))


@st.composite
def keys(draw: st.DrawFn) -> KeyRecord:
    created = draw(st.none() | instants())
    usage = None
    if draw(st.booleans()):
        used = draw(st.none() | instants())
        usage = KeyUsage(
            last_used=used,
            lookback_days=draw(st.sampled_from([7, 30, 90, 400])),
            requests_7d=draw(st.integers(0, 5)),
            gemini_requests_7d=draw(st.integers(0, 5)),
        )
    key_type = draw(st.sampled_from(KeyType))
    return replace(
        settled_key(created),
        key_type=key_type,
        service_account="sa@p.iam.gserviceaccount.com" if key_type is KeyType.AUTH else None,
        api_targets=draw(
            st.sampled_from(
                [(), (GEMINI,), ("maps.googleapis.com",), (GEMINI, "maps.googleapis.com")]
            )
        ),
        application_restriction=draw(st.sampled_from(AppRestriction)),
        application_values=draw(st.sampled_from([(), ("192.0.2.1/32",)])),
        gemini_enabled=draw(st.sampled_from([True, False, None])),
        usage=usage,
    )


@st.composite
def configs(draw: st.DrawFn) -> Config:
    expires = draw(st.integers(0, 3 * 365).map(lambda d: date(2025, 1, 1) + timedelta(days=d)))
    accepted = ExceptionEntry(
        id="accepted",
        rules=["key-not-rotated", "gemini-unrestricted-standard-key"],
        projects=["1"],  # the number: no project record gives its id here
        reason="r",
        approved_by="a@example.com",
        expires=expires,
    )
    rules = RulesConfig(
        rotation_days=draw(st.integers(1, 400)),
        warn_days=draw(st.integers(0, 60)),
        dormancy_days=draw(st.integers(1, 400)),
    )
    return Config(rules=rules, exceptions=ExceptionsConfig(entries=[accepted]))


def judged(key: KeyRecord, config: Config, at: datetime) -> KeyAssessment:
    ctx = RuleContext(config, at, usage_available=True)
    exceptions = ExceptionsInForce(config.exceptions.entries, at.date())
    return assess(key, RULES, ctx, VERDICT_RULES, exceptions)


def holds(
    key: KeyRecord, config: Config, a: datetime, b: datetime, rules: tuple[Rule, ...]
) -> bool:
    changes = scan_changes(config) + key_changes(key, rules, config)
    return unchanged_between(changes, a, b)


def near(key: KeyRecord, config: Config) -> list[datetime]:
    """Instants where judgements tend to turn, found apart from the code under
    test: a day either side of them is where a missed change shows."""
    rules = config.rules
    spots = [datetime.combine(e.date, time(), UTC) for e in config.timeline]
    spots += [datetime.combine(e.expires, time(), UTC) for e in config.exceptions.entries]
    for start in (key.created, key.usage.last_used if key.usage else None):
        if start is not None:
            for days in (rules.rotation_days, rules.rotation_days - rules.warn_days):
                spots.append(start + timedelta(days=days))
            spots.append(start + timedelta(days=rules.dormancy_days))
    warned = [s - timedelta(days=rules.warn_days) for s in spots]
    return spots + warned


@settings(max_examples=2000, deadline=None)
@given(keys(), configs(), st.data())
def test_no_change_between_means_the_same_judgement(
    key: KeyRecord, config: Config, data: st.DataObject
) -> None:
    spot = data.draw(st.sampled_from(near(key, config)))
    a = spot + timedelta(seconds=data.draw(st.integers(-2 * 86400, 2 * 86400)))
    b = a + timedelta(seconds=data.draw(st.integers(0, 3 * 86400)))
    if holds(key, config, a, b, RULES):
        assert judged(key, config, a) == judged(key, config, b)


def settled_key(created: datetime) -> KeyRecord:
    """An auth key restricted in every way: the rotation rule is all that
    judges it, so its changes show alone."""
    return KeyRecord(
        name="projects/1/locations/global/keys/k",
        uid="k",
        project_number="1",
        project_id="p",
        display_name="k",
        created=created,
        updated=None,
        deleted=None,
        key_type=KeyType.AUTH,
        service_account="sa@p.iam.gserviceaccount.com",
        api_targets=("maps.googleapis.com",),
        application_restriction=AppRestriction.SERVER,
        application_values=("192.0.2.1/32",),
        annotations=(),
        gemini_enabled=True,
    )


def unrestricted(created: datetime, last_used: datetime | None) -> KeyRecord:
    """A standard key with no restriction whose usage is known."""
    usage = KeyUsage(last_used=last_used, lookback_days=400)
    return replace(
        settled_key(created),
        key_type=KeyType.STANDARD,
        service_account=None,
        api_targets=(),
        application_restriction=AppRestriction.NONE,
        application_values=(),
        usage=usage,
    )


def noon(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


# Each key, and the instant its judgement turns (with rotation_days 100,
# warn_days 10 and dormancy_days 60, far from every timeline date and from
# each other's changes).
CLOCK_TURNS = {
    "rotation warning": (settled_key(noon(2026, 8, 1)), noon(2026, 10, 30)),
    "dormant since last use": (
        unrestricted(noon(2025, 1, 1), noon(2026, 10, 1)),
        noon(2026, 11, 30),
    ),
    "dormant since creation": (unrestricted(noon(2026, 10, 1), None), noon(2026, 11, 30)),
}


@pytest.mark.parametrize("case", sorted(CLOCK_TURNS))
def test_a_rule_that_reads_the_clock_and_says_nothing_is_caught(case: str) -> None:
    """Each change a rule declares is one the judgement shows: with the rules'
    changes left out, the two instants an hour either side look alike, and the
    judgements differ."""
    key, turn = CLOCK_TURNS[case]
    config = Config(rules=RulesConfig(rotation_days=100, warn_days=10, dormancy_days=60))
    a, b = turn - timedelta(hours=1), turn + timedelta(hours=1)
    silent = tuple(Rule(r.meta, r.evaluate) for r in RULES)
    assert holds(key, config, a, b, silent)
    assert judged(key, config, a) != judged(key, config, b)
    assert not holds(key, config, a, b, RULES)


def test_days_and_instants_at_both_ends() -> None:
    noon = datetime(2026, 5, 6, 12, tzinfo=UTC)
    assert not unchanged_between([noon], noon, noon + timedelta(hours=1))
    assert not unchanged_between([noon], noon - timedelta(hours=1), noon)
    assert unchanged_between([noon], noon + timedelta(seconds=1), noon + timedelta(hours=1))
    # A day begins within the span only when the span crosses its midnight.
    assert not unchanged_between([date(2026, 5, 7)], noon, noon + timedelta(hours=12))
    assert unchanged_between([date(2026, 5, 7)], noon, noon + timedelta(hours=11))
    assert unchanged_between([date(2026, 5, 6)], noon, noon + timedelta(hours=11))
    assert not unchanged_between([date(2026, 5, 7)], noon + timedelta(days=1), noon)


def test_the_due_day_is_at_risk_until_the_due_instant() -> None:
    """On the day a key is due its status still counts down to the deadline:
    that midnight changes nothing, the due instant (noon) does."""
    config = Config(rules=RulesConfig(rotation_days=100, warn_days=10))
    key = settled_key(datetime(2026, 1, 1, 12, tzinfo=UTC))
    midnight = datetime(2026, 4, 11, tzinfo=UTC)  # due at noon that day
    a, b = midnight - timedelta(hours=1), midnight + timedelta(hours=1)
    assert judged(key, config, a) == judged(key, config, b)
    assert judged(key, config, b).status is KeyStatus.AT_RISK
    noon = midnight + timedelta(hours=12)
    assert judged(key, config, noon - timedelta(hours=1)) != judged(key, config, noon)
    assert not holds(key, config, noon - timedelta(hours=1), noon, RULES)
