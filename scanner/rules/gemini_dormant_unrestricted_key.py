"""An unrestricted standard key older than the dormancy period that nobody
used for that long: blocked."""

from datetime import date, timedelta

from scanner.config import Config
from scanner.core.key_views import KeyClock
from scanner.core.models import Finding, KeyRecord, KeyType, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="gemini-dormant-unrestricted-key",
    title="Dormant unrestricted key blocked by the Gemini API",
    severity=Severity.CRITICAL,
    rationale="The Gemini API blocks unrestricted keys that have been dormant for an extended "
    "period (Google does not publish the length; rules.dormancy_days sets it). A blocked "
    "key shows a Blocked tag in AI Studio.",
    checklist="remove-unused-key",
    fires_when="unrestricted standard key unused for `dormancy_days`",
    references=("https://ai.google.dev/gemini-api/docs/api-key",),
    needs="usage",
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.key_type is not KeyType.STANDARD or not key.api_unrestricted:
        return None
    if key.usage is None:  # no data is "unknown", never "unused"
        return None
    days = ctx.config.rules.dormancy_days
    cutoff = ctx.evaluated_at - timedelta(days=days)
    # A key younger than the period cannot have been dormant for it; one whose
    # age is unknown is not called dormant either.
    if key.created is None or key.created > cutoff:
        return None
    last_used = key.usage.last_used
    if last_used is not None and last_used >= cutoff:
        return None
    seen = key.usage.lookback_days
    if key.usage.covered_days is not None:
        seen = min(seen, key.usage.covered_days)
    if seen < days and last_used is None:
        return None  # the data covers too few days to call it dormant
    if last_used is None:
        said = f"No request in the {seen} days of usage data (dormant after {days})."
    else:
        said = f"Last used {last_used.date().isoformat()}, more than {days} days ago."
    return finding(META, key, ctx, f"Unrestricted standard key. {said}")


def changes_at(key: KeyClock, config: Config) -> tuple[date, ...]:
    """When the key has been around, and then unused, for the dormancy period."""
    period = timedelta(days=config.rules.dormancy_days)
    created = () if key.created is None else (key.created + period,)
    used = key.usage.last_used if key.usage is not None else None
    return created + (() if used is None else (used + period,))
