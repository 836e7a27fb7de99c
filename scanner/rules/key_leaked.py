"""A key whose string a secret scanner found: compromised until replaced.
Restricting it does not resolve this; only deleting it (or its disappearance
from inventory) does."""

from scanner.core.models import Finding, KeyRecord, LeakEvidence, Severity, StringRead
from scanner.rules.base import RuleContext, RuleMeta, finding

META = RuleMeta(
    id="key-leaked",
    title="Key string found by a secret scanner",
    severity=Severity.CRITICAL,
    rationale="A key string in a repository, public or not, must be treated as known to "
    "attackers, whatever its restrictions: restrictions limit what it can call, not who "
    "can call it. Only replacing and deleting the key ends the exposure.",
    checklist="leak-response",
    fires_when=(
        "a secret scanner reported the key's string (see [Leaks](leaks.md)); "
        "resolved only by deleting the key"
    ),
    always_immediate=True,
    references=(
        "https://cloud.google.com/docs/authentication/api-keys-best-practices",
        "https://cloud.google.com/api-keys/docs/reference/rest/v2/keys/lookupKey",
    ),
)


def evaluate(key: KeyRecord, ctx: RuleContext) -> Finding | None:
    if not key.leaks:
        return None
    return finding(META, key, ctx, summary(key.leaks, key.string_read))


def summary(leaks: tuple[LeakEvidence, ...], read: StringRead | None = None) -> str:
    """The first report in full, then how many more: a new report changes the
    summary, and so the finding's history."""
    first = leaks[0]
    when = f" on {first.first_reported.date().isoformat()}" if first.first_reported else ""
    commit = f", commit {first.commit[:12]}" if first.commit else ""
    flags = [
        label
        for label, value in (
            ("verified", first.verified),
            ("publicly leaked", first.publicly_leaked),
        )
        if value
    ]
    text = f"Key string {first.redacted} found by {first.tool} in {first.location}{commit}{when}"
    if flags:
        text += f" ({', '.join(flags)})"
    if len(leaks) > 1:
        text += f"; {len(leaks) - 1} more report(s)"
    closed = next((leak for leak in leaks if leak.scanner_status), None)
    if closed is not None:  # the key is judged by the inventory, which still lists it
        text += f". {_TOOLS.get(closed.tool, closed.tool)} says {closed.scanner_status}"
        text += ", but the key still exists: it stays leaked until it is deleted"
    if read is not None:  # from the Data Access log: who may have copied it out
        who = read.principal or "an unknown principal"
        where = f" from {read.caller_ip}" if read.caller_ip else ""
        text += f". Its string was read by {who}{where} on {read.at.date().isoformat()}"
    return text + "."


_TOOLS = {"github": "GitHub"}
