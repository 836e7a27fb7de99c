"""The short "what to do next" after a scan: which checklist to run on how many keys."""

from __future__ import annotations

from collections import Counter

from scanner.core.models import KeyStatus
from scanner.report.build import Report
from scanner.report.formats import terminal_safe
from scanner.rules.checklists import CHECKLISTS


def next_steps(report: Report) -> list[str]:
    blocked = report.counts("by_status").get(KeyStatus.BLOCKED.value, 0)
    lines = []
    if blocked:
        lines.append(
            f"{blocked} key(s) are rejected by the Gemini API now: any service still "
            "using them is failing. Fix these first."
        )
    per_checklist: Counter[str] = Counter()
    leaked = []
    for key in report.iter_keys():
        if key.findings:
            per_checklist[key.findings[0].checklist] += 1
        if any(f.rule == "key-leaked" for f in key.findings):
            leaked.append(terminal_safe(key.display_name or key.uid))
    if leaked:
        lines.insert(
            0,
            f"{len(leaked)} key(s) were found by a secret scanner ({', '.join(leaked[:3])}"
            f"{', ...' if len(leaked) > 3 else ''}): treat them as compromised and follow "
            "the leak-response checklist now, whatever their restrictions.",
        )
    for checklist_id, count in per_checklist.most_common():
        checklist = CHECKLISTS[checklist_id]
        lines.append(f"{checklist.title} ({checklist_id}): {count} key(s).")
        lines.extend(f"    {n}. {step}" for n, step in enumerate(checklist.steps, start=1))
    lines.extend(_lapsing(report))
    if not lines:
        lines.append("Nothing to do: every key is compliant.")
    return lines


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
