"""A standard key restricted to the Gemini API still has to become an auth key."""

from scanner.core.models import Finding, KeyRecord, KeyType, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding, targets_gemini

META = RuleMeta(
    id="gemini-standard-key",
    title="Standard key used for Gemini must migrate to an auth key",
    severity=Severity.HIGH,
    rationale="Google announced that the Gemini API will reject every standard key and "
    "accept only auth keys bound to a service account.",
    checklist="migrate-to-auth-key",
    fires_when="standard key whose API targets include the Gemini API",
    references=("https://ai.google.dev/gemini-api/docs/api-key",),
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.key_type is not KeyType.STANDARD or not targets_gemini(key, ctx):
        return None
    return finding(META, key, ctx, "Standard key restricted to the Gemini API; not an auth key.")
