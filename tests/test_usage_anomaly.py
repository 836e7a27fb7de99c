"""key-usage-anomaly: the daily tally behind it, and the rule on both sides of
its multiple and its floor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scanner.config import Config, RulesConfig
from scanner.core.models import KeyUsage
from scanner.rules import key_usage_anomaly
from scanner.sources.usage.tally import ProjectUsage
from tests.test_rules import NOW, ctx, make_key


def daily(last_day: int, baseline: list[int]) -> list[tuple[object, int]]:
    """Points as Monitoring aligns them: each day's sum at the end of its day."""
    points = [(NOW, last_day)]
    points += [(NOW - timedelta(days=n), c) for n, c in enumerate(baseline, start=1)]
    return points  # type: ignore[return-value]


def test_the_tally_splits_the_last_day_from_the_28_before() -> None:
    usage = ProjectUsage(NOW, frozenset({"generativelanguage.googleapis.com"}), 90)
    baseline = [100 + n for n in range(28)] + [999_999]  # day 29 is outside the baseline
    usage.add("apikey:k", "generativelanguage.googleapis.com", "2xx", daily(5000, baseline))  # type: ignore[arg-type]
    found = usage.usage_of(make_key(), lookback_days=90)
    assert found is not None
    assert found.requests_1d == 5000
    assert found.daily_median_28d == pytest.approx(113.5)
    other = make_key(name="projects/1/locations/global/keys/other", uid="other")
    quiet = usage.usage_of(other, lookback_days=90)  # no series: known to be unused
    assert quiet is not None and (quiet.requests_1d, quiet.daily_median_28d) == (0, 0.0)
    short = usage.usage_of(make_key(), lookback_days=28)
    assert short is not None and short.daily_median_28d is None


def usage(last_day: int, median: float | None) -> KeyUsage:
    return KeyUsage(last_used=NOW, lookback_days=90, requests_1d=last_day, daily_median_28d=median)


@pytest.mark.parametrize(
    ("last_day", "median", "fires"),
    [
        (5001, 1000.0, True),  # above 5x and the floor
        (5000, 1000.0, False),  # exactly 5x is not above it
        (999, 10.0, False),  # far above its usual, but under the floor
        (1001, 0.0, True),  # a key that was silent for four weeks
        (10_000, None, False),  # no baseline: the lookback is too short
    ],
)
def test_the_rule_needs_both_the_multiple_and_the_floor(
    last_day: int, median: float | None, fires: bool
) -> None:
    found = key_usage_anomaly.evaluate(make_key(usage=usage(last_day, median)), ctx())
    assert (found is not None) == fires
    if found is not None:
        assert found.severity.value == "high" and str(last_day) in found.summary


def test_the_multiple_and_floor_come_from_the_config() -> None:
    config = Config(rules=RulesConfig(anomaly_multiple=2, anomaly_floor=10))
    key = make_key(usage=usage(300, 100.0))
    assert key_usage_anomaly.evaluate(key, ctx(config=config)) is not None
    assert key_usage_anomaly.evaluate(key, ctx()) is None
    assert key_usage_anomaly.evaluate(make_key(usage=None), ctx()) is None
