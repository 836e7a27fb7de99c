"""One key for Gemini and other Google APIs."""

from scanner.core.models import Finding, KeyRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding, targets_gemini

META = RuleMeta(
    id="gemini-shared-key",
    title="Key shared between Gemini and other APIs",
    severity=Severity.MEDIUM,
    rationale="Sharing one key between the Gemini API and other Google APIs is not "
    "recommended: restricting it for one breaks the other, and a leak exposes both.",
    checklist="restrict-key",
    fires_when="targets include the Gemini API and another service",
    references=("https://ai.google.dev/gemini-api/docs/api-key",),
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if not targets_gemini(key, ctx):
        return None
    others = [t for t in key.api_targets if t not in ctx.gemini_services]
    if not others:
        return None
    return finding(META, key, ctx, f"Key reaches Gemini and {len(others)} other API(s).")
