"""A browser key is public by design; one that can call Gemini hands it out."""

from scanner.core.models import AppRestriction, Finding, KeyRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta, can_reach_gemini, finding

META = RuleMeta(
    id="gemini-browser-key",
    title="Browser key that can call Gemini",
    severity=Severity.HIGH,
    rationale="A key restricted to HTTP referrers ships in client-side code, where anyone can "
    "read it; referrer headers are easy to forge. Call Gemini from a backend instead.",
    checklist="move-gemini-behind-server",
    fires_when="browser (referrer) key that can reach Gemini",
    references=("https://ai.google.dev/gemini-api/docs/api-key",),
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.application_restriction is not AppRestriction.BROWSER:
        return None
    if not can_reach_gemini(key, ctx):
        return None
    return finding(META, key, ctx, "Browser key can call the Gemini API from client-side code.")
