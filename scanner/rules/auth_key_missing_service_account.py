"""An auth key whose bound service account is deleted or disabled: the key
cannot work, and whatever still calls with it is failing."""

from scanner.core.models import Finding, KeyRecord, KeyType, Severity
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="auth-key-missing-service-account",
    title="Auth key whose service account is deleted or disabled",
    severity=Severity.HIGH,
    rationale="An auth key authenticates as its bound service account; with the account "
    "deleted or disabled every request with the key fails.",
    checklist="replace-auth-key",
    fires_when=(
        "an auth key's service account is disabled, or deleted (judged only for accounts "
        "of projects whose accounts were listed)"
    ),
    references=("https://ai.google.dev/gemini-api/docs/api-key",),
    needs="iam",
)
_USER_MANAGED = ".iam.gserviceaccount.com"


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if key.key_type is not KeyType.AUTH or key.service_account is None or ctx.iam is None:
        return None
    email = key.service_account.lower()
    account = ctx.iam.service_accounts.get(email)
    if account is not None:
        if account.disabled:
            return finding(META, key, ctx, f"Bound service account {email} is disabled.")
        return None
    # Only an account of a project whose accounts were listed can be called missing;
    # Google-managed accounts and other organizations' are out of sight.
    domain = email.rsplit("@", 1)[-1]
    if not domain.endswith(_USER_MANAGED):
        return None
    if domain.removesuffix(_USER_MANAGED) not in ctx.iam.service_account_projects:
        return None
    return finding(META, key, ctx, f"Bound service account {email} no longer exists.")
