"""A key whose last day of traffic is far above its usual: often the first sign
that someone else is using it."""

from scanner.core.models import Finding, KeyRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="key-usage-anomaly",
    title="Key traffic far above its usual level",
    severity=Severity.HIGH,
    rationale="Requests in the last day above rules.anomaly_multiple times the key's 28-day "
    "daily median, and above rules.anomaly_floor: a leaked key is usually found by its "
    "bill or by a spike like this one.",
    checklist="investigate-usage-spike",
    fires_when=(
        "requests in the last day above `rules.anomaly_multiple` (5) times the key's "
        "28-day daily median, and above `rules.anomaly_floor` (1000)"
    ),
    needs="usage",
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    usage = key.usage
    if usage is None or usage.daily_median_28d is None:
        return None  # no data, or a lookback too short for a baseline
    rules = ctx.config.rules
    last_day, median = usage.requests_1d, usage.daily_median_28d
    if last_day <= rules.anomaly_floor or last_day <= rules.anomaly_multiple * median:
        return None
    if median:
        ratio = f"{last_day / median:.1f}x its 28-day daily median of {median:g}"
    else:
        ratio = "a 28-day daily median of 0"
    return finding(META, key, ctx, f"{last_day} requests in the last day, {ratio}.")
