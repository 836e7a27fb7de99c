"""What every rule module shares: its metadata type, the context it is
evaluated in, and the few predicates several rules ask of a key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from scanner.config import Config, TimelineEntry
from scanner.core.key_views import KeyClock
from scanner.core.models import (
    DeadlineKind,
    Finding,
    IamIndex,
    KeyRecord,
    KeyStatus,
    ProjectRecord,
    Severity,
)
from scanner.rules.checklist_choice import checklist_for


@dataclass(frozen=True, slots=True)
class RuleMeta:
    id: str
    title: str
    severity: Severity  # the usual severity; a rule may raise or lower it per key
    rationale: str
    checklist: str
    # When it fires, in a line of the rules reference (docs/rules.md, generated).
    fires_when: str
    references: tuple[str, ...] = ()
    needs: str | None = None  # a data source the rule cannot run without
    # Its new findings are sent at once, whatever a receiver's digest says.
    always_immediate: bool = False


@dataclass(frozen=True, slots=True)
class RuleContext:
    config: Config
    evaluated_at: datetime
    usage_available: bool
    iam: IamIndex | None = None  # None: the source read no IAM
    projects: dict[str, ProjectRecord] = field(default_factory=dict)  # by number
    # Looked up for every key: computed once per scan from the config.
    gemini_services: frozenset[str] = field(init=False)
    deadlines: dict[str, TimelineEntry] = field(init=False)

    def __post_init__(self) -> None:
        services = frozenset(self.config.gemini.api_services)
        object.__setattr__(self, "gemini_services", services)
        object.__setattr__(self, "deadlines", self.config.deadlines())


Evaluate = Callable[[KeyRecord, RuleContext], Finding | None]
EvaluateProject = Callable[[ProjectRecord, RuleContext], Finding | None]
EvaluateVerdict = Callable[[KeyRecord, KeyStatus, RuleContext], Finding | None]
# When a rule that reads the clock may judge a key differently with nothing
# else changed: a datetime is that instant, a date the day it begins.
ChangesAt = Callable[[KeyClock, Config], tuple[date, ...]]


@dataclass(frozen=True, slots=True)
class Rule:
    meta: RuleMeta
    evaluate: Evaluate
    changes_at: ChangesAt | None = None  # None: the rule does not read the clock


@dataclass(frozen=True, slots=True)
class ProjectRule:
    """A rule about a project (its IAM, say) rather than one of its keys."""

    meta: RuleMeta
    evaluate: EvaluateProject


@dataclass(frozen=True, slots=True)
class VerdictRule:
    """A rule that needs the status the other rules give the key."""

    meta: RuleMeta
    evaluate: EvaluateVerdict


def project_subject(project: ProjectRecord) -> str:
    return f"projects/{project.number}"


def project_finding(
    meta: RuleMeta, project: ProjectRecord, ctx: RuleContext, summary: str
) -> Finding:
    """A finding about PROJECT: same fingerprint scheme, the project as subject."""
    return Finding(
        rule_id=meta.id,
        subject=project_subject(project),
        severity=meta.severity,
        summary=summary,
        checklist=meta.checklist,
    )


def targets_gemini(key: KeyRecord, ctx: RuleContext) -> bool:
    return not ctx.gemini_services.isdisjoint(key.api_targets)


def can_reach_gemini(key: KeyRecord, ctx: RuleContext) -> bool:
    """The key may call the Gemini API: its targets allow it and the API is not
    known to be off in its project."""
    allowed = key.api_unrestricted or targets_gemini(key, ctx)
    return allowed and key.gemini_enabled is not False


def ancestry(key: KeyRecord, ctx: RuleContext) -> tuple[str, ...]:
    """projects/N of the key, then its folders and organization, when known."""
    project = ctx.projects.get(key.project_number)
    own = f"projects/{key.project_number}"
    if project is None or not project.ancestors:
        return (own,)
    return (own, *(a for a in project.ancestors if a != own))


def finding(
    meta: RuleMeta,
    key: KeyRecord,
    ctx: RuleContext,
    summary: str,
    severity: Severity | None = None,
    checklist: str | None = None,
) -> Finding:
    """A finding for META on KEY, with the deadline the timeline gives the rule
    and the checklist that fits the key (rules.checklist_choice)."""
    entry = ctx.deadlines.get(meta.id)
    return Finding(
        rule_id=meta.id,
        subject=key.name,
        severity=severity or meta.severity,
        summary=summary,
        checklist=checklist_for(checklist or meta.checklist, key),
        deadline=entry.date if entry else None,
        deadline_kind=DeadlineKind(entry.status) if entry else None,
        timeline_entry=entry.id if entry else None,
    )
