"""Key administration granted to everyone, a whole domain, or people outside
the organization: a finding on the project, not on a key."""

from scanner.core.models import Finding, ProjectRecord, Severity
from scanner.rules.base import RuleContext, RuleMeta, project_finding
from scanner.sources.inventory.ownership import key_admin_roles, resources_above

META = RuleMeta(
    id="key-admin-granted-broadly",
    title="Key administration granted too broadly",
    severity=Severity.HIGH,
    rationale="Whoever holds apikeys.keys.create or apikeys.keys.update can mint keys or lift "
    "their restrictions. Granting it to allUsers, allAuthenticatedUsers, a whole domain or "
    "accounts outside the organization puts every key of the project in their hands.",
    checklist="restrict-key-admin",
    fires_when=(
        "on a **project**: `roles/owner`, `roles/editor`, "
        "`roles/serviceusage.apiKeysAdmin` or a custom role with "
        "`apikeys.keys.create`/`update` (or `serviceusage.apiKeys.create`/`update`/"
        "`regenerate`/`revert`) granted on it (or its folders, organization) to "
        "`allUsers`, `allAuthenticatedUsers`, a whole `domain:`, or people outside "
        "`ownership.domains`"
    ),
    references=("https://cloud.google.com/docs/authentication/api-keys",),
    needs="iam",
)
PUBLIC = ("allUsers", "allAuthenticatedUsers")


def too_broad(member: str, domains: list[str]) -> str | None:
    """Why MEMBER is too broad a holder of key administration, or None."""
    if member in PUBLIC:
        return member
    kind, _, principal = member.partition(":")
    if kind == "domain":
        return f"the whole domain {principal}"
    if domains and kind in ("user", "group"):
        domain = principal.rsplit("@", 1)[-1].lower()
        if domain not in domains:
            return f"{principal}, outside {', '.join(domains)}"
    return None


def evaluate(project: ProjectRecord, ctx: RuleContext) -> Finding | None:
    if ctx.iam is None:
        return None
    domains = [d.lower() for d in ctx.config.ownership.domains]
    roles = key_admin_roles(ctx.iam)
    resources = resources_above(project)
    reasons: list[str] = []
    for resource in resources:
        for role, members in sorted(ctx.iam.bindings.get(resource, {}).items()):
            if role not in roles:
                continue
            for member in sorted(members):
                why = too_broad(member, domains)
                if why is not None:
                    reasons.append(f"{role} to {why} on {resource}")
    if not reasons:
        return None
    more = f" and {len(reasons) - 3} more" if len(reasons) > 3 else ""
    return project_finding(
        META, project, ctx, "Key administration granted via " + "; ".join(reasons[:3]) + more + "."
    )
