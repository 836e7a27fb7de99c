"""Router.key_targets answers from a cache per what routes and owners see of
a key (its status, type, owners, and which project globs its project
matches) and per the rules and severities of its findings: whatever keys
share an answer, each must get what routing its own findings afresh gives."""

from __future__ import annotations

import random

import pytest

from scanner.alerts.facts import FindingFacts, KeyFacts, Target
from scanner.alerts.plan.routing import ConfiguredOwners, Router
from scanner.configfile import parse_config

ROUTES = """
alerts:
  route:
    receiver: team
    routes:
      - {match: {severity: [critical]}, receiver: security, continue: true}
      - {match: {project: ["alpha*"]}, receiver: owners}
      - {match: {rule: [key-not-rotated]}, receiver: owners}
  receivers:
    - {name: team, email: {to: [team@example.com]}}
    - name: security
      email: {to: [sec@example.com]}
      webhooks: [{name: feed, url: "https://feed.example.com/h"}]
    - {name: owners, email: {to_owners: true}}
  owners: {"alpha-1": [alice@example.com], "102": [carol@example.com]}
  fallback_receiver: team
"""
RULES = ("gemini-standard-key", "key-not-rotated", "key-api-unrestricted")
SEVERITIES = ("critical", "high", "low")
PROJECTS = ("alpha-1", "alpha-2", "beta", "gamma")  # numbers 101 to 104


def _key(rng: random.Random, i: int) -> KeyFacts:
    project = rng.choice(PROJECTS)
    return KeyFacts(
        name=f"projects/{project}/locations/global/keys/k{i}",
        uid=f"u{i}",
        display_name=f"key {i}",
        project=project,
        project_number=str(101 + PROJECTS.index(project)),
        key_type="standard",
        status=rng.choice(("blocked", "at_risk")),
        score=i % 100,
        owners=rng.choice(((), ("bob@example.com",))),
    )


def _findings(rng: random.Random, i: int) -> list[FindingFacts]:
    rules = rng.sample(RULES, rng.randint(1, len(RULES)))
    return [
        FindingFacts(f"{i}-{rule}", rule, rng.choice(SEVERITIES), "s", "c", None, None, None)
        for rule in rules
    ]


@pytest.mark.parametrize("seed", range(5))
def test_each_key_hears_what_routing_its_own_findings_gives(seed: int) -> None:
    config = parse_config(ROUTES, "test.yaml").alerts
    cached = Router(config, ConfiguredOwners(config.owners))
    unowned: set[str] = set()
    rng = random.Random(seed)
    subsets = 0
    addresses: set[str] = set()
    for i in range(300):
        key, findings = _key(rng, i), _findings(rng, i)
        expected: dict[Target, list[FindingFacts]] = {}
        reference = Router(config, ConfiguredOwners(config.owners))  # nothing cached
        for finding in findings:
            for target in reference.targets(key, finding):
                expected.setdefault(target, []).append(finding)
        got = cached.key_targets(key, findings)
        assert got == expected
        for heard in got.values():  # this key's findings, not an earlier key's
            assert all(any(f is mine for mine in findings) for f in heard)
        subsets += any(len(heard) < len(findings) for heard in got.values())
        unowned |= reference.unowned
        addresses |= {t.address for t in got}
    assert cached.unowned == unowned and unowned
    assert subsets  # some targets heard of only some findings of a key
    # Owners by project id glob, by project number glob and by the scan's owners.
    assert {"alice@example.com", "carol@example.com", "bob@example.com"} <= addresses
