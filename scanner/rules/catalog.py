"""The rule catalog: an explicit, ordered list. Adding a rule means adding its
module and one line here."""

from scanner.rules import (
    auth_key_missing_service_account,
    auth_key_overprivileged_service_account,
    gemini_browser_key,
    gemini_dormant_unrestricted_key,
    gemini_key_rejected_in_use,
    gemini_shared_key,
    gemini_standard_key,
    gemini_unrestricted_standard_key,
    key_admin_granted_broadly,
    key_api_unrestricted,
    key_application_unrestricted,
    key_leaked,
    key_not_rotated,
    key_orphaned,
    key_usage_anomaly,
    key_weak_application_restriction,
)
from scanner.rules.base import ProjectRule, Rule, RuleMeta, VerdictRule

RULES: tuple[Rule, ...] = (
    Rule(key_leaked.META, key_leaked.evaluate),
    Rule(gemini_unrestricted_standard_key.META, gemini_unrestricted_standard_key.evaluate),
    Rule(
        gemini_dormant_unrestricted_key.META,
        gemini_dormant_unrestricted_key.evaluate,
        gemini_dormant_unrestricted_key.changes_at,
    ),
    Rule(gemini_standard_key.META, gemini_standard_key.evaluate),
    Rule(gemini_shared_key.META, gemini_shared_key.evaluate),
    Rule(gemini_browser_key.META, gemini_browser_key.evaluate),
    Rule(key_api_unrestricted.META, key_api_unrestricted.evaluate),
    Rule(key_application_unrestricted.META, key_application_unrestricted.evaluate),
    Rule(key_weak_application_restriction.META, key_weak_application_restriction.evaluate),
    Rule(key_not_rotated.META, key_not_rotated.evaluate, key_not_rotated.changes_at),
    Rule(
        auth_key_overprivileged_service_account.META,
        auth_key_overprivileged_service_account.evaluate,
    ),
    Rule(auth_key_missing_service_account.META, auth_key_missing_service_account.evaluate),
    Rule(key_orphaned.META, key_orphaned.evaluate),
    Rule(key_usage_anomaly.META, key_usage_anomaly.evaluate),
)

PROJECT_RULES: tuple[ProjectRule, ...] = (
    ProjectRule(key_admin_granted_broadly.META, key_admin_granted_broadly.evaluate),
)

VERDICT_RULES: tuple[VerdictRule, ...] = (
    VerdictRule(gemini_key_rejected_in_use.META, gemini_key_rejected_in_use.evaluate),
)

ALL_RULES: tuple[RuleMeta, ...] = (
    tuple(r.meta for r in RULES)
    + tuple(r.meta for r in VERDICT_RULES)
    + tuple(r.meta for r in PROJECT_RULES)
)
RULE_IDS: frozenset[str] = frozenset(meta.id for meta in ALL_RULES)
