"""A key nobody owns: no person holds roles/owner on its project and no label
or configured map names one."""

from fnmatch import fnmatchcase

from scanner.core.models import Finding, KeyRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="key-orphaned",
    title="Key with no owner",
    severity=Severity.MEDIUM,
    rationale="A key without an owner is a key nobody fixes: alerts about it reach only the "
    "fallback receiver, and nobody knows where it is used.",
    checklist="assign-owner",
    fires_when=(
        "no person owns the key's project (see [Ownership](alerts.md#ownership)) and "
        "`alerts.owners` names nobody"
    ),
    needs="iam",
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if ctx.iam is None or key.owners:
        return None
    if any(_mapped(key, glob) for glob in ctx.config.alerts.owners):
        return None  # alerts.owners names someone for this project
    return finding(META, key, ctx, "No person owns this key's project.")


def _mapped(key: KeyRecord, glob: str) -> bool:
    project = key.project_id or key.project_number
    return fnmatchcase(project, glob) or fnmatchcase(key.project_number, glob)
