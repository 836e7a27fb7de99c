"""A key older than the rotation period, or about to be."""

from datetime import date, timedelta

from scanner.config import Config
from scanner.core.key_views import KeyClock
from scanner.core.models import DeadlineKind, Finding, KeyRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta
from scanner.rules.checklist_choice import checklist_for

META = RuleMeta(
    id="key-not-rotated",
    title="Key not rotated within the rotation period",
    severity=Severity.MEDIUM,
    rationale="Rotate keys regularly (every rules.rotation_days, 90 by default) and at once "
    "on suspected exposure, so a copy that escaped stops working. Within rules.warn_days of "
    "the due date the finding is low, as a warning; past it, medium.",
    checklist="rotate-key",
    fires_when=(
        "older than `rotation_days` (CIS 1.16); within `warn_days` of it: low; due at "
        "creation + `rotation_days`"
    ),
    references=("CIS Google Cloud Platform Foundation Benchmark v5, 1.16",),
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.created is None:
        return None
    days = ctx.config.rules.rotation_days
    due = key.created + timedelta(days=days)
    if ctx.evaluated_at < due - timedelta(days=ctx.config.rules.warn_days):
        return None
    created = key.created.date().isoformat()
    if ctx.evaluated_at < due:
        severity = Severity.LOW
        summary = f"Key created {created} is due for rotation at {days} days."
    else:
        severity = META.severity
        summary = f"Key created {created} is older than {days} days."
    return Finding(
        rule_id=META.id,
        subject=key.name,
        severity=severity,
        summary=summary,
        checklist=checklist_for(META.checklist, key),
        deadline=due.date(),
        deadline_kind=DeadlineKind.POLICY,
    )


def changes_at(key: KeyClock, config: Config) -> tuple[date, ...]:
    """The warning, the due instant, and the days the status counts from (its
    deadline within rules.warn_days, then the day after it)."""
    if key.created is None:
        return ()
    due = key.created + timedelta(days=config.rules.rotation_days)
    warn = timedelta(days=config.rules.warn_days)
    return (due - warn, due, due.date() - warn, due.date() + timedelta(days=1))
