"""Compliance views: the controls of a benchmark that speak of API keys
(scanner.rules.frameworks), each judged from the rules that check it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scanner.core.models import KeyStatus
from scanner.report.answers import in_use
from scanner.report.records import ReportKey
from scanner.rules.frameworks import Control, Framework


@dataclass
class ControlResult:
    control: Control
    assessed: int = 0  # keys judged against the control
    failing: list[ReportKey] = field(default_factory=list)
    accepted: list[ReportKey] = field(default_factory=list)  # an exception accepts the finding
    not_assessed: int = 0

    @property
    def result(self) -> str:
        if self.failing:
            return "fail"
        return "pass" if self.assessed else "not assessed"


def assess(framework: Framework, keys: Iterable[ReportKey]) -> list[ControlResult]:
    """Each control of FRAMEWORK over KEYS (deleted keys are out of scope)."""
    results = [ControlResult(c) for c in framework.controls]
    for k in keys:
        if k.status == KeyStatus.DELETED:
            continue
        open_rules = {f.rule for f in k.findings}
        accepted_rules = {f.rule for f in k.accepted}
        for r in results:
            if r.control.by_usage:
                used = in_use(k)
                if used is None:
                    r.not_assessed += 1
                    continue
                r.assessed += 1
                if not used:
                    r.failing.append(k)
                continue
            r.assessed += 1
            if open_rules & set(r.control.rules):
                r.failing.append(k)
            elif accepted_rules & set(r.control.rules):
                r.accepted.append(k)
    return results
