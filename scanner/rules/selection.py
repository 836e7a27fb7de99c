"""Which rules a scan runs (configuration and available evidence decide),
the project-level findings, and the notes that say what was not judged."""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

from scanner.config import Config
from scanner.core.models import Finding, InventoryContext
from scanner.core.reasons import Resolution
from scanner.exceptions.matching import ExceptionsInForce
from scanner.rules.base import ProjectRule, Rule, RuleContext, VerdictRule
from scanner.rules.catalog import ALL_RULES, PROJECT_RULES, RULES, VERDICT_RULES

R = TypeVar("R", Rule, ProjectRule, VerdictRule)


def enabled(
    rules: tuple[R, ...], config: Config, usage_available: bool, iam_available: bool
) -> tuple[R, ...]:
    """RULES minus those the config disables or whose data source is missing."""
    disabled = set(config.rules.disabled)
    available = {"usage": usage_available, "iam": iam_available, None: True}
    return tuple(
        rule
        for rule in rules
        if rule.meta.id not in disabled and available.get(rule.meta.needs, False)
    )


def enabled_rules(
    config: Config, usage_available: bool, iam_available: bool = False
) -> tuple[Rule, ...]:
    return enabled(RULES, config, usage_available, iam_available)


def resolution_for(
    config: Config,
    usage_available: bool,
    iam_available: bool,
    projects: frozenset[str],
    config_changed: bool,
    lapsed_exceptions: frozenset[str] = frozenset(),
) -> Resolution:
    """What a scan that runs these rules can say about findings it did not find again."""
    ran = {r.meta.id for r in enabled(RULES, config, usage_available, iam_available)}
    ran |= {r.meta.id for r in enabled(VERDICT_RULES, config, usage_available, iam_available)}
    ran |= {r.meta.id for r in enabled(PROJECT_RULES, config, False, iam_available)}
    return Resolution(
        rules_run=frozenset(ran),
        disabled=frozenset(config.rules.disabled),
        usage_rules=frozenset(m.id for m in ALL_RULES if m.needs == "usage"),
        projects=projects,
        config_changed=config_changed,
        usage_read=usage_available,
        lapsed_exceptions=lapsed_exceptions,
    )


def project_findings(
    context: InventoryContext,
    config: Config,
    ctx: RuleContext,
    exceptions: ExceptionsInForce | None = None,
    numbers: Collection[str] | None = None,
) -> list[Finding]:
    """The findings about projects: those of NUMBERS, or of every project."""
    rules = enabled(PROJECT_RULES, config, False, context.iam is not None)
    found = []
    projects = context.projects
    chosen = (
        projects.values() if numbers is None else [projects[n] for n in numbers if n in projects]
    )
    for project in chosen:
        of_project = [f for rule in rules if (f := rule.evaluate(project, ctx)) is not None]
        if exceptions and of_project:
            of_project = exceptions.apply(of_project, None, project, project.number)
        found.extend(of_project)
    return found


def usage_notes(errors: dict[str, str], unmatched: int) -> list[str]:
    """Partial evidence: which projects had no usage data, and why (a few); how
    many key series matched no key (credential_id is not documented)."""
    notes = []
    if errors:
        shown = "; ".join(f"{p}: {e}" for p, e in sorted(errors.items())[:3])
        more = f" and {len(errors) - 3} more" if len(errors) > 3 else ""
        notes.append(f"usage unknown for keys of {len(errors)} project(s): {shown}{more}")
    if unmatched:
        notes.append(
            f"usage: {unmatched} series of API key credentials matched no key in the inventory "
            "(by uid or key id): their traffic is counted for no key"
        )
    return notes


def scan_notes(
    config: Config, usage_available: bool, services_known: bool, iam_available: bool
) -> list[str]:
    notes = []
    skipped_usage = [
        m.id for m in ALL_RULES if m.needs == "usage" and m.id not in config.rules.disabled
    ]
    if not usage_available and skipped_usage:
        notes.append(
            "usage not evaluated: no usage data (skipped " + ", ".join(skipped_usage) + ")"
        )
    if not iam_available:
        skipped = [m.id for m in ALL_RULES if m.needs == "iam"]
        notes.append(
            "ownership not evaluated: no IAM policies (skipped " + ", ".join(skipped) + ")"
        )
    if not services_known:
        notes.append("enabled services not in the inventory: Gemini treated as possibly enabled")
    if config.rules.disabled:
        notes.append("rules disabled by configuration: " + ", ".join(config.rules.disabled))
    return notes
