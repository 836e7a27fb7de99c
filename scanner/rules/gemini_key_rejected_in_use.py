"""A key the Gemini API rejects while callers still use it: an outage in
progress. Judged after the other rules, since "blocked" is their verdict."""

from scanner.core.models import Finding, KeyRecord, KeyStatus, KeyType, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="gemini-key-rejected-in-use",
    title="Key rejected by the Gemini API and still in use",
    severity=Severity.CRITICAL,
    rationale="A blocked key that still receives Gemini requests, or whose Gemini requests are "
    "mostly rejected, means a service is failing right now.",
    checklist="migrate-to-auth-key",
    fires_when=(
        "a key that is `blocked` and still receives Gemini requests, or whose Gemini "
        "requests in the last 7 days were mostly (`usage.rejected_share`) rejected"
    ),
    references=("https://ai.google.dev/gemini-api/docs/api-key",),
    needs="usage",
)


# An auth key is what the migration leads to: its rejections have another cause.
AUTH_KEY_CHECKLIST = "diagnose-gemini-rejections"


def evaluate(key: KeyRecord, status: KeyStatus, ctx: RuleContext) -> Finding | None:
    usage = key.usage
    checklist = AUTH_KEY_CHECKLIST if key.key_type is KeyType.AUTH else None
    if usage is None or usage.gemini_requests_7d == 0:
        return None
    share = usage.gemini_rejected_7d / usage.gemini_requests_7d
    if status is KeyStatus.BLOCKED:
        return finding(
            META,
            key,
            ctx,
            f"Blocked, yet {usage.gemini_requests_7d} Gemini requests in the last 7 days "
            f"({usage.gemini_rejected_7d} rejected).",
            checklist=checklist,
        )
    if share >= ctx.config.usage.rejected_share:
        return finding(
            META,
            key,
            ctx,
            f"{usage.gemini_rejected_7d} of {usage.gemini_requests_7d} Gemini requests in the "
            "last 7 days were rejected.",
            checklist=checklist,
        )
    return None
