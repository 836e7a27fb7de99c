"""An auth key whose service account holds owner or editor: the key is a
credential for everything that account can do."""

from scanner.core.models import Finding, KeyRecord, KeyType, Severity
from scanner.rules.base import RuleContext, RuleMeta, ancestry, finding

META = RuleMeta(
    id="auth-key-overprivileged-service-account",
    title="Auth key bound to an owner or editor service account",
    severity=Severity.HIGH,
    rationale="Requests made with an auth key run as its service account. A leaked key bound "
    "to an account with roles/owner or roles/editor anywhere above its project gives its "
    "holder that power, not only the Gemini API.",
    checklist="least-privilege-service-account",
    fires_when=(
        "an auth key's service account holds `roles/owner` or `roles/editor` on its "
        "project, folders or organization"
    ),
    references=("https://ai.google.dev/gemini-api/docs/api-key",),
    needs="iam",
)
BROAD_ROLES = ("roles/owner", "roles/editor")


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.key_type is not KeyType.AUTH or key.service_account is None or ctx.iam is None:
        return None
    member = f"serviceaccount:{key.service_account.lower()}"  # compared lowercased
    for resource in ancestry(key, ctx):
        roles = ctx.iam.bindings.get(resource, {})
        for role in BROAD_ROLES:
            if member in {m.lower() for m in roles.get(role, frozenset())}:
                return finding(
                    META,
                    key,
                    ctx,
                    f"Bound service account {key.service_account} holds {role} on {resource}.",
                )
    return None
