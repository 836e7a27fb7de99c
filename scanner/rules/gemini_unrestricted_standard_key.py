"""A standard key with no API restriction: the Gemini API rejects it."""

from scanner.core.models import Finding, KeyRecord, KeyType, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="gemini-unrestricted-standard-key",
    title="Unrestricted standard key rejected by the Gemini API",
    severity=Severity.CRITICAL,
    rationale="Since the timeline date the Gemini API rejects requests from standard keys "
    "that have no API restriction. Any service still calling Gemini with this key is failing.",
    checklist="restrict-key",
    fires_when=(
        "standard key without API restrictions (critical where Gemini is enabled in its "
        "project or not known to be off, else low: true only of calls it would make)"
    ),
    references=("https://ai.google.dev/gemini-api/docs/api-key",),
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.key_type is not KeyType.STANDARD or not key.api_unrestricted:
        return None
    if key.gemini_enabled is False:
        return finding(
            META,
            key,
            ctx,
            "Would be rejected if it called Gemini; the Gemini API is off in this project.",
            Severity.LOW,
        )
    return finding(META, key, ctx, "Standard key without API restrictions can call Gemini.")
