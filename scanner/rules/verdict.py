"""Evaluates the catalog on one key and turns its findings into a status and a
score. The score depends only on the findings and the status, so it does not
drift from day to day while nothing changes.

score = min(100, sum of severity weights of the findings + 20 if blocked)
weights: critical 40, high 20, medium 8, low 3, info 0.

Accepted findings (an exception covers them) count for neither status nor
score, except that a key the Gemini API rejects is blocked whatever is accepted:
an exception accepts a risk, it does not hide a fact. A key whose Gemini calls
usage shows mostly refused is blocked by that observation, whatever the timeline.
"""

from datetime import timedelta

from scanner.core.models import DeadlineKind, Finding, KeyAssessment, KeyRecord, KeyStatus, Severity
from scanner.exceptions.matching import ExceptionsInForce
from scanner.rules.base import Rule, RuleContext, VerdictRule, can_reach_gemini

SEVERITY_WEIGHTS = {
    Severity.CRITICAL: 40,
    Severity.HIGH: 20,
    Severity.MEDIUM: 8,
    Severity.LOW: 3,
    Severity.INFO: 0,
}
BLOCKED_BONUS = 20


def refused_by_gemini(key: KeyRecord, ctx: RuleContext) -> bool:
    """Usage shows the Gemini API refusing most of the key's calls: blocked by
    observation, the strongest evidence there is for one key, whatever the
    timeline says (usage.rejected_share)."""
    usage = key.usage
    if usage is None or usage.gemini_requests_7d == 0:
        return False
    return usage.gemini_rejected_7d / usage.gemini_requests_7d >= ctx.config.usage.rejected_share


def key_status(key: KeyRecord, findings: tuple[Finding, ...], ctx: RuleContext) -> KeyStatus:
    if key.is_deleted:
        return KeyStatus.DELETED
    if refused_by_gemini(key, ctx):
        return KeyStatus.BLOCKED
    today = ctx.evaluated_at.date()
    reachable = can_reach_gemini(key, ctx)
    for f in findings:
        enforced = f.deadline_kind is DeadlineKind.ENFORCED
        if enforced and f.deadline is not None and f.deadline <= today and reachable:
            return KeyStatus.BLOCKED
    findings = tuple(f for f in findings if f.accepted_by is None)
    if any(f.severity.rank >= Severity.MEDIUM.rank for f in findings):
        return KeyStatus.NON_COMPLIANT
    horizon = today + timedelta(days=ctx.config.rules.warn_days)
    # Today counts: a rotation due later today is a warning until it is due,
    # not a compliant key between an at-risk yesterday and a non-compliant tonight.
    if any(f.deadline is not None and today <= f.deadline <= horizon for f in findings):
        return KeyStatus.AT_RISK
    return KeyStatus.COMPLIANT


def score(findings: tuple[Finding, ...], status: KeyStatus) -> int:
    total = sum(SEVERITY_WEIGHTS[f.severity] for f in findings if f.accepted_by is None)
    if status is KeyStatus.BLOCKED:
        total += BLOCKED_BONUS
    return min(100, total)


def assess(
    key: KeyRecord,
    rules: tuple[Rule, ...],
    ctx: RuleContext,
    verdict_rules: tuple[VerdictRule, ...] = (),
    exceptions: ExceptionsInForce | None = None,
) -> KeyAssessment:
    """Run RULES on KEY, then VERDICT_RULES with the status they give (which
    may raise it); EXCEPTIONS mark the findings they accept. A deleted key
    raises no findings."""
    if key.is_deleted:
        return KeyAssessment(key, (), KeyStatus.DELETED, 0)
    project = ctx.projects.get(key.project_number)

    def marked(findings: list[Finding]) -> list[Finding]:
        if not exceptions or not findings:
            return findings
        return exceptions.apply(findings, key, project, key.project_number)

    found = marked([f for rule in rules if (f := rule.evaluate(key, ctx)) is not None])
    status = key_status(key, tuple(found), ctx)
    extra = [f for r in verdict_rules if (f := r.evaluate(key, status, ctx)) is not None]
    if extra:
        found.extend(marked(extra))
        status = key_status(key, tuple(found), ctx)
    findings = tuple(found)
    return KeyAssessment(key, findings, status, score(findings, status))
