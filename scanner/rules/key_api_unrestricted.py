"""A key that may call every API that accepts keys."""

from scanner.core.models import Finding, KeyRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="key-api-unrestricted",
    title="Key without API restrictions",
    severity=Severity.HIGH,
    rationale="A key with no API targets can call every enabled API that accepts keys; "
    "restrict it to the APIs the application needs.",
    checklist="restrict-key",
    fires_when="any key without API restrictions (CIS GCP v5 1.15)",
    references=("CIS Google Cloud Platform Foundation Benchmark v5, 1.15",),
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if not key.api_unrestricted:
        return None
    return finding(META, key, ctx, "Key has no API restrictions.")
