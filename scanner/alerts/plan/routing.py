"""Who gets what: an Alertmanager-like route tree picks receivers for each
finding; each receiver's channels give the targets. Project owners come from
an OwnerResolver."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Protocol

from scanner.alerts.facts import FindingFacts, KeyFacts, Target
from scanner.config.alerts import AlertsConfig, Matchers, ReceiverConfig, RouteConfig


class OwnerResolver(Protocol):
    """The people responsible for a key. The ownership sources (IAM owners,
    key creators) implement this; ConfiguredOwners is the first."""

    def owners(self, key: KeyFacts) -> list[str]: ...

    def project_globs(self) -> list[str] | None:
        """The globs of project ids and numbers the answer depends on, beside
        the key's own owners; None when it depends on the project itself."""
        ...

    def identity(self) -> str | None:
        """What else than the key and the alert configuration the answers
        depend on, as text that changes when they may; None: unknown (digest
        lines are then rebuilt on every scan)."""
        ...


class ConfiguredOwners:
    """alerts.owners first (project glob -> addresses; every matching glob
    counts), then the owners the scan resolved for the key (IAM project owners,
    inherited owners, label owners: scanner.sources.inventory.ownership)."""

    def __init__(self, owners: dict[str, list[str]]) -> None:
        self._owners = owners

    def owners(self, key: KeyFacts) -> list[str]:
        found: list[str] = []
        for glob, addresses in self._owners.items():
            if fnmatch.fnmatchcase(key.project, glob) or fnmatch.fnmatchcase(
                key.project_number, glob
            ):
                found.extend(a for a in addresses if a not in found)
        found.extend(a for a in key.owners if a not in found)
        return found

    def project_globs(self) -> list[str]:
        return list(self._owners)

    def identity(self) -> str:
        return json.dumps(self._owners, sort_keys=True)


# Each target with the positions of the findings it hears about (None: all),
# and whether the key was routed to owners but has none.
Plan = tuple[tuple[tuple[Target, tuple[int, ...] | None], ...], bool]


def _matches(m: Matchers, key: KeyFacts, finding: FindingFacts) -> bool:
    if m.rule and finding.rule not in m.rule:
        return False
    if m.severity and finding.severity not in m.severity:
        return False
    if m.status and key.status not in m.status:
        return False
    if m.key_type and key.key_type not in m.key_type:
        return False
    return not m.project or any(
        fnmatch.fnmatchcase(key.project, glob) or fnmatch.fnmatchcase(key.project_number, glob)
        for glob in m.project
    )


def _route_globs(route: RouteConfig) -> list[str]:
    found = list(route.match.project)
    for child in route.routes:
        found.extend(_route_globs(child))
    return found


def route_receivers(
    route: RouteConfig, key: KeyFacts, finding: FindingFacts, inherited: str | None = None
) -> list[str]:
    """Depth first: the first matching child wins unless it says `continue`;
    when no child matches, this route's own receiver does."""
    receiver = route.receiver or inherited
    found: list[str] = []
    for child in route.routes:
        if _matches(child.match, key, finding):
            found.extend(route_receivers(child, key, finding, receiver))
            if not child.continue_:
                break
    if not found and receiver is not None:
        found.append(receiver)
    return list(dict.fromkeys(found))


class Router:
    def __init__(self, config: AlertsConfig, owners: OwnerResolver) -> None:
        assert config.route is not None
        self._config = config
        self._route = config.route
        self._owners = owners
        self.unowned: set[str] = set()  # keys routed to owners but with none known
        self._cache: dict[tuple[object, ...], dict[tuple[str, str], tuple[list[Target], bool]]] = {}
        # Routes and owners see a project only through globs: keys of projects
        # that match the same ones share their routes (thousands of projects,
        # a handful of such classes).
        owner_globs = owners.project_globs()
        self._globs = None if owner_globs is None else [*_route_globs(self._route), *owner_globs]
        self._classes: dict[tuple[str, str], tuple[bool, ...]] = {}
        # Per labels, per the (rule, severity) of each of a key's findings: key_targets' answer.
        self._plans: dict[tuple[object, ...], dict[tuple[tuple[str, str], ...], Plan]] = {}

    @property
    def owners(self) -> OwnerResolver:
        return self._owners

    def receivers(self, key: KeyFacts, finding: FindingFacts) -> list[ReceiverConfig]:
        return [self._config.receiver(n) for n in route_receivers(self._route, key, finding)]

    def targets(self, key: KeyFacts, finding: FindingFacts) -> list[Target]:
        found, unowned = self._routed(self._per_key(key), key, finding)
        if unowned:
            self.unowned.add(key.name)
        return found

    def key_targets(
        self, key: KeyFacts, findings: list[FindingFacts]
    ) -> dict[Target, list[FindingFacts]]:
        """Which of KEY's FINDINGS each target hears about."""
        labels = self._labels(key)
        signature = tuple([(f.rule, f.severity) for f in findings])
        plans = self._plans.get(labels)
        if plans is None:
            plans = self._plans[labels] = {}
        plan = plans.get(signature)
        if plan is None:
            plan = plans[signature] = self._plan(self._per_key(key), key, findings)
        picks, unowned = plan
        if unowned:
            self.unowned.add(key.name)
        # One list for all who hear of every finding.
        return {t: findings if at is None else [findings[i] for i in at] for t, at in picks}

    def _plan(
        self,
        per_key: dict[tuple[str, str], tuple[list[Target], bool]],
        key: KeyFacts,
        findings: list[FindingFacts],
    ) -> Plan:
        positions: dict[Target, list[int]] = {}
        unowned = False
        for i, finding in enumerate(findings):
            found, no_owner = self._routed(per_key, key, finding)
            unowned = unowned or no_owner
            for target in found:
                positions.setdefault(target, []).append(i)
        picks = tuple(
            (target, None if len(at) == len(findings) else tuple(at))
            for target, at in positions.items()
        )
        return picks, unowned

    def _labels(self, key: KeyFacts) -> tuple[object, ...]:
        """What of KEY its targets depend on, beside its findings' rules and
        severities; organizations repeat these a lot."""
        if self._globs is None:
            return (key.status, key.project, key.project_number, key.key_type, *key.owners)
        project = (key.project, key.project_number)
        matched = self._classes.get(project)
        if matched is None:
            matched = self._classes[project] = tuple(
                fnmatch.fnmatchcase(key.project, glob)
                or fnmatch.fnmatchcase(key.project_number, glob)
                for glob in self._globs
            )
        return (key.status, matched, key.key_type, *key.owners)

    def _per_key(self, key: KeyFacts) -> dict[tuple[str, str], tuple[list[Target], bool]]:
        labels = self._labels(key)
        cached = self._cache.get(labels)
        if cached is None:
            cached = self._cache[labels] = {}
        return cached

    def _routed(
        self,
        per_key: dict[tuple[str, str], tuple[list[Target], bool]],
        key: KeyFacts,
        finding: FindingFacts,
    ) -> tuple[list[Target], bool]:
        """(targets, whether the key was routed to owners but has none)."""
        cached = per_key.get((finding.rule, finding.severity))
        if cached is None:
            unowned: list[bool] = []
            found: list[Target] = []
            for receiver in self.receivers(key, finding):
                found.extend(self._targets_of(receiver, key, True, unowned))
            cached = (list(dict.fromkeys(found)), bool(unowned))
            per_key[(finding.rule, finding.severity)] = cached
        return cached

    def _targets_of(
        self, receiver: ReceiverConfig, key: KeyFacts, fallback: bool, unowned: list[bool]
    ) -> Iterator[Target]:
        for webhook in receiver.webhooks:
            yield Target(receiver.name, "webhook", webhook.name)
        email = receiver.email
        if email is None:
            return
        for address in email.to:
            yield Target(receiver.name, "email", address)
        if not email.to_owners:
            return
        owners = self._owners.owners(key)
        for address in owners:
            yield Target(receiver.name, "email", address)
        if not owners:
            unowned.append(True)
            name = self._config.fallback_receiver
            if fallback and name is not None and name != receiver.name:
                yield from self._targets_of(self._config.receiver(name), key, False, unowned)
