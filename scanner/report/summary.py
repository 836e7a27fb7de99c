"""The short "what to do next" after a scan: which checklist to run on how many keys."""

from __future__ import annotations

from collections import Counter

from scanner.core.models import KeyStatus
from scanner.report.answers import in_use
from scanner.report.build import Report, ReportKey
from scanner.report.formats import terminal_safe
from scanner.rules.checklists import CHECKLISTS

NAMED = 10  # keys named per line; the rest are counted, with the command that lists them


def next_steps(report: Report, command: str = "keysentry report") -> list[str]:
    """What to do, most urgent first, naming the keys; COMMAND is how to run
    `keysentry report` on the same history, for the lists that are cut."""
    blocked: list[str] = []
    blocked_total = report.counts("by_status").get(KeyStatus.BLOCKED.value, 0)
    per_checklist: Counter[str] = Counter()
    named: dict[str, list[str]] = {}
    leaked = []
    for key in report.iter_keys():
        name = terminal_safe(key.display_name or key.uid)
        if key.status is KeyStatus.BLOCKED and len(blocked) < NAMED:
            blocked.append(f"    {name} ({_who(key)})")
        if key.findings:
            first = key.findings[0].checklist
            per_checklist[first] += 1
            if len(named.setdefault(first, [])) < NAMED:
                named[first].append(name)
        if any(f.rule == "key-leaked" for f in key.findings):
            leaked.append(name)
    lines = []
    if leaked:
        lines.append(
            f"{len(leaked)} key(s) were found by a secret scanner ({', '.join(leaked[:3])}"
            f"{', ...' if len(leaked) > 3 else ''}): treat them as compromised and follow "
            "the leak-response checklist now, whatever their restrictions "
            f"(`{command} --leaked`)."
        )
    if blocked_total:
        lines.append(
            f"{blocked_total} key(s) are rejected by the Gemini API now: any service still "
            "using them is failing. Fix these first:"
        )
        lines.extend(blocked)
        more = blocked_total - len(blocked)
        lines.append(
            f"    {'and ' + str(more) + ' more; ' if more > 0 else ''}"
            f"with owners and usage: `{command} --status blocked`"
        )
    for checklist_id, count in per_checklist.most_common():
        checklist = CHECKLISTS[checklist_id]
        keys = named[checklist_id]
        rest = f" and {count - len(keys)} more" if count > len(keys) else ""
        lines.append(
            f"{checklist.title} ({checklist_id}): {count} key(s): {', '.join(keys)}{rest}."
        )
        lines.extend(f"    {n}. {step}" for n, step in enumerate(checklist.steps, start=1))
    lines.extend(_lapsing(report))
    if not lines:
        lines.append("Nothing to do: every key is compliant.")
    return lines


def _who(key: ReportKey) -> str:
    use = in_use(key)
    usage = "usage unknown" if use is None else ("in use" if use else "not in use")
    owners = ", ".join(terminal_safe(o) for o in key.owners) or "no owner known"
    return f"{terminal_safe(key.project)}; {owners}; {usage}"


def _lapsing(report: Report, within_days: int = 14) -> list[str]:
    """Exceptions that lapse soon: their findings will count again."""
    today = report.evaluated_at.date()
    soon = sorted(
        (e.expires, e.id)
        for e in report.exceptions().values()
        if e.expires is not None and 0 < (e.expires - today).days <= within_days
    )
    return [
        f"Exception {terminal_safe(exception)} lapses on {expires} (in "
        f"{(expires - today).days} days): renew it with a new approval or fix what it "
        "accepts (`keysentry exceptions list --expiring 14d`)."
        for expires, exception in soon
    ]
