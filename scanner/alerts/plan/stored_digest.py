"""A digest read from its target's lines (scanner.alerts.plan.lines): the counts over
every key it lists, why the recipient gets it, and the LIMIT most urgent keys
with their findings, those with a finding new or worse within the digest's
period first. Only the keys shown and those with such a finding are read
from history."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import Connection

from scanner.alerts.content.digest_content import DigestContent, urgency_order
from scanner.alerts.content.why import Audience
from scanner.alerts.facts import FindingFacts, KeyFacts, Target
from scanner.alerts.plan.digests import max_keys
from scanner.alerts.plan.lines import Kept, own_targets, shared_target
from scanner.alerts.plan.routing import Router
from scanner.alerts.store.digest_lines import DigestLines
from scanner.alerts.store.facts import keys_with_findings
from scanner.alerts.store.open_keys import open_keys
from scanner.config.alerts import AlertsConfig

Shown = tuple[KeyFacts, list[FindingFacts], bool]  # a key, its findings, whether new or worse


@dataclass
class StoredDigest:
    target: Target
    lined: Target  # the target its lines are kept under (scanner.alerts.plan.lines.shared_target)
    limit: int
    audience: Audience
    total: int = 0
    fresh: int = 0  # keys with a finding new or worse within the period
    by_status: Counter[str] = field(default_factory=Counter)
    accepted: int = 0  # keys with findings an exception accepts: counted, not listed
    shown: list[Shown] = field(default_factory=list)

    def top(self) -> list[Shown]:
        return self.shown

    @property
    def omitted(self) -> int:
        return max(0, self.total - self.limit)


Fresh = dict[Target, list[tuple[KeyFacts, list[FindingFacts]]]]  # per target


def fresh_keys(conn: Connection, router: Router, scan_id: int, changed: frozenset[str]) -> Fresh:
    """Per target, the keys with a finding in CHANGED among those routed to it."""
    names = keys_with_findings(conn, scan_id, "fingerprint", changed)
    found: Fresh = {}
    for key, findings, _ in open_keys(conn, scan_id, names):
        if not findings:
            continue
        for target, routed in router.key_targets(key, findings).items():
            if any(f.fingerprint in changed for f in routed):
                found.setdefault(target, []).append((key, routed))
    return found


def read_digests(
    conn: Connection,
    config: AlertsConfig,
    router: Router,
    scan_id: int,
    targets: dict[Target, Kept],
    receivers: Collection[str],
    fresh: dict[str, Fresh],
) -> list[StoredDigest]:
    """The digest of each target of RECEIVERS with a key listed in TARGETS
    (scanner.alerts.plan.lines.refresh's answer), at SCAN_ID, in a stable order; FRESH
    (fresh_keys' answer per receiver) first."""
    digests = []
    lines = DigestLines(conn)
    picked: dict[Target, list[str]] = {}
    for lined, kept in targets.items():
        figures = kept.figures
        if lined.receiver not in receivers or not figures.total:
            continue
        shared = lined == shared_target(lined.receiver)
        limit = max_keys(config, lined.receiver)
        first: list[tuple[KeyFacts, list[FindingFacts]]] = []
        for target in own_targets(config, lined.receiver) if shared else [lined]:
            # The receiver's own targets hear of the same keys, and the same of them are fresh.
            first = fresh.get(target.receiver, {}).get(target, [])
            ordered = sorted(first, key=lambda item: urgency_order(*item))[:limit]
            digest = StoredDigest(
                target,
                lined,
                limit,
                figures.audience(config, target),
                total=figures.total,
                fresh=len(first),
                by_status=Counter(figures.by_status),
                accepted=figures.accepted,
            )
            digest.shown = [(key, findings, True) for key, findings in ordered]
            digests.append(digest)
        wanted = limit - min(limit, len(first))
        picked[lined] = lines.most_urgent(kept.id, wanted, {key.name for key, _ in first})
    details = _routed(conn, router, scan_id, {n for found in picked.values() for n in found})
    for digest in digests:
        for name in picked[digest.lined]:
            key, routed = details[name]  # a line is of an open key with findings routed here
            digest.shown.append((key, routed[digest.target], False))
    return sorted(digests, key=lambda digest: str(digest.target))


def in_full(
    conn: Connection, router: Router, scan_id: int, contents: dict[Target, DigestContent]
) -> list[StoredDigest]:
    """CONTENTS, gathered from routing facts (scanner.alerts.plan.lines' visitor), with the
    keys they show read in full, in a stable order."""
    names = {key.name for content in contents.values() for key, _, _ in content.top()}
    details = _routed(conn, router, scan_id, names)
    found = []
    for target, content in sorted(contents.items(), key=lambda item: str(item[0])):
        digest = StoredDigest(
            target,
            target,
            content.limit,
            content.audience,
            total=content.total,
            fresh=content.fresh,
            by_status=content.by_status,
        )
        for key, _, new in content.top():
            full, routed = details[key.name]
            digest.shown.append((full, routed[target], new))
        found.append(digest)
    return found


def _routed(
    conn: Connection, router: Router, scan_id: int, names: set[str]
) -> dict[str, tuple[KeyFacts, dict[Target, list[FindingFacts]]]]:
    """Keys NAMES read in full, with the findings each target hears of."""
    found = {}
    for key, findings, _ in open_keys(conn, scan_id, names):
        found[key.name] = (key, router.key_targets(key, findings))
    return found
