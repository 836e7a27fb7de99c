"""The benchmarks whose controls speak of API keys, and which rules check
each control. The CIS Google Cloud Platform Foundation Benchmark v5.0.0
numbers them 1.13 to 1.16 (v4 had 1.12 to 1.15); the titles follow
prowler-cloud/prowler prowler/compliance/gcp/cis_5.0_gcp.json. How a
report judges them is scanner.report.frameworks."""

from __future__ import annotations

from dataclasses import dataclass


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


def controls_of(framework: Framework, rule: str) -> list[Control]:
    """The controls of FRAMEWORK that RULE checks."""
    return [c for c in framework.controls if rule in c.rules]
