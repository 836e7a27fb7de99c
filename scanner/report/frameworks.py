"""Compliance views: the controls of a benchmark that speak of API keys, each
judged from the rules that check it. The CIS Google Cloud Platform
Foundation Benchmark v5.0.0 numbers them 1.13 to 1.16 (v4 had 1.12 to 1.15);
the titles follow prowler-cloud/prowler prowler/compliance/gcp/cis_5.0_gcp.json."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scanner.core.models import KeyStatus
from scanner.report.answers import in_use
from scanner.report.records import ReportKey


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    rules: tuple[str, ...]  # a key with an open finding of one of them fails
    # 1.13 has no rule: a key that served no request in 30 days is not for an
    # active service; a key whose usage was not read is not assessed.
    by_usage: bool = False


@dataclass(frozen=True)
class Framework:
    id: str
    title: str
    controls: tuple[Control, ...]


CIS_GCP = Framework(
    "cis-gcp",
    "CIS Google Cloud Platform Foundation Benchmark v5.0.0",
    (
        Control("1.13", "Ensure API Keys Only Exist for Active Services", (), by_usage=True),
        Control(
            "1.14",
            "Ensure API Keys Are Restricted To Use by Only Specified Hosts and Apps",
            ("key-application-unrestricted", "key-weak-application-restriction"),
        ),
        Control(
            "1.15",
            "Ensure API Keys Are Restricted to Only APIs That Application Needs Access",
            ("key-api-unrestricted",),
        ),
        Control("1.16", "Ensure API Keys Are Rotated Every 90 Days", ("key-not-rotated",)),
    ),
)
FRAMEWORKS = {CIS_GCP.id: CIS_GCP}


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
