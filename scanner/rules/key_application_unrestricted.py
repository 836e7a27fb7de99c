"""A key usable from any host or app."""

from scanner.core.models import AppRestriction, Finding, KeyRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="key-application-unrestricted",
    title="Key without application restrictions",
    severity=Severity.MEDIUM,
    rationale="Without an application restriction (IP addresses, HTTP referrers, Android or "
    "iOS apps) a copied key works from anywhere.",
    checklist="add-application-restriction",
    fires_when="no application restriction (CIS 1.14)",
    references=("CIS Google Cloud Platform Foundation Benchmark v5, 1.14",),
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.application_restriction is not AppRestriction.NONE:
        return None
    return finding(META, key, ctx, "Key has no application restriction.")
