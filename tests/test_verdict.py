"""Status and score of a key from its findings and the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scanner.config import Config
from scanner.core.models import AppRestriction, KeyStatus, KeyType
from scanner.rules.base import RuleContext
from scanner.rules.selection import enabled_rules
from scanner.rules.verdict import assess
from tests.test_rules import NOW, make_key

RULES = enabled_rules(Config(), usage_available=False)


def verdict(now: datetime = NOW, **changes: object) -> tuple[KeyStatus, int, list[str]]:
    result = assess(make_key(**changes), RULES, RuleContext(Config(), now, False))
    return result.status, result.score, [f.rule_id for f in result.findings]


def test_unrestricted_standard_key_is_blocked_on_and_after_the_date() -> None:
    before = datetime(2026, 6, 18, tzinfo=UTC)
    on = datetime(2026, 6, 19, tzinfo=UTC)
    status_before, _, _ = verdict(before, api_targets=(), created=before - timedelta(days=5))
    status_on, score_on, rules = verdict(on, api_targets=(), created=on - timedelta(days=5))
    assert status_before is KeyStatus.NON_COMPLIANT
    assert status_on is KeyStatus.BLOCKED
    assert "gemini-unrestricted-standard-key" in rules
    # critical 40 + api-unrestricted high 20 + blocked 20
    assert score_on == 80


def test_gemini_off_means_not_blocked() -> None:
    status, _, _ = verdict(api_targets=(), gemini_enabled=False)
    assert status is KeyStatus.NON_COMPLIANT


def test_gemini_unknown_is_treated_as_reachable() -> None:
    status, _, _ = verdict(api_targets=(), gemini_enabled=None)
    assert status is KeyStatus.BLOCKED


def test_announced_deadline_never_blocks() -> None:
    status, score, rules = verdict()  # standard key restricted to Gemini, past 2026-09-01
    assert rules == ["gemini-standard-key"]
    assert status is KeyStatus.NON_COMPLIANT
    assert score == 20


def test_at_risk_when_a_deadline_is_near_and_nothing_worse() -> None:
    status, score, rules = verdict(
        **{"key_type": KeyType.AUTH, "service_account": "sa@x", "created": NOW - timedelta(days=80)}
    )
    assert rules == ["key-not-rotated"]
    assert status is KeyStatus.AT_RISK
    assert score == 3


def test_a_rotation_due_later_today_is_at_risk_until_it_is_due() -> None:
    """Hour by hour across the due day: never compliant between at risk and overdue."""
    created = NOW - timedelta(days=89, hours=10)  # due at NOW + 14 hours, the same day
    auth = {"key_type": KeyType.AUTH, "service_account": "sa@x", "created": created}
    due = created + timedelta(days=90)
    assert due.date() == NOW.date()
    statuses = []
    for hours in range(-30, 30, 2):
        at = NOW + timedelta(hours=hours)
        status, _, rules = verdict(at, **auth)
        assert rules == ["key-not-rotated"]
        statuses.append((at >= due, status))
    assert {status for passed, status in statuses if not passed} == {KeyStatus.AT_RISK}
    assert {status for passed, status in statuses if passed} == {KeyStatus.NON_COMPLIANT}


def test_compliant_and_deleted() -> None:
    auth = {"key_type": KeyType.AUTH, "service_account": "sa@x"}
    assert verdict(**auth)[:2] == (KeyStatus.COMPLIANT, 0)
    deleted = verdict(
        api_targets=(), application_restriction=AppRestriction.NONE, deleted=NOW - timedelta(days=1)
    )
    assert deleted == (KeyStatus.DELETED, 0, [])


def test_score_is_capped_at_100() -> None:
    _, score, rules = verdict(
        api_targets=(),
        application_restriction=AppRestriction.BROWSER,
        application_values=("*",),
        created=NOW - timedelta(days=400),
    )
    assert len(rules) == 5  # 40 + 20 + 20 + 20 + 8, +20 blocked = 128
    assert score == 100


def test_refused_gemini_calls_block_a_key_whatever_the_timeline() -> None:
    """Observed refusals are the strongest evidence for one key: a restricted
    auth key whose Gemini calls usage shows mostly refused is blocked, though
    no timeline date applies to it; one with a few refusals is not."""
    from scanner.core.models import KeyUsage

    auth = {"key_type": KeyType.AUTH, "service_account": "sa@x"}

    def usage(rejected: int) -> KeyUsage:
        return KeyUsage(
            last_used=NOW - timedelta(hours=1),
            lookback_days=30,
            requests_7d=100,
            requests_30d=400,
            gemini_requests_7d=100,
            gemini_rejected_7d=rejected,
        )

    rules = enabled_rules(Config(), usage_available=True)
    context = RuleContext(Config(), NOW, True)
    refused = assess(make_key(**auth, usage=usage(95)), rules, context)  # type: ignore[arg-type]
    assert refused.status is KeyStatus.BLOCKED
    assert all(f.deadline is None for f in refused.findings if f.rule_id.startswith("gemini-"))
    answered = assess(make_key(**auth, usage=usage(5)), rules, context)  # type: ignore[arg-type]
    assert answered.status is KeyStatus.COMPLIANT
