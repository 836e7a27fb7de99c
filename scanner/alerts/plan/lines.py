"""Digest lines: each open key's place in the digest of every target it is
routed to (its urgency, status and project, and what says why the target
hears of it), each target's figures over its lines, and the keys routed to
owners nobody knows. A receiver's own addresses and webhooks hear of the
same keys: they share one target (shared_target); each owner is a target of
its own. Lines are kept in the store from scan to scan and redone only for
the keys whose versions moved since the scan they stand for, under the same
routing: a digest then reads its figures and its most urgent keys
(scanner.alerts.plan.stored_digest) instead of routing every open finding of the
organization on every scan. Anything else (other code, schema, alert
configuration or owner resolver, no lines yet) rebuilds them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from scanner.alerts.content.digest_content import urgency_order, urgency_text
from scanner.alerts.content.digest_figures import Figures, Line
from scanner.alerts.content.why import named_by_config
from scanner.alerts.facts import FindingFacts, KeyFacts, Target
from scanner.alerts.plan.routing import OwnerResolver, Router
from scanner.alerts.store.digest_lines import DigestLines
from scanner.alerts.store.open_keys import open_keys
from scanner.config.alerts import AlertsConfig
from scanner.scan.code_digest import code_digest
from scanner.store.db import head_revision
from scanner.store.queries import moved_since

BATCH = 5000  # lines per insert

Routed = dict[Target, list[FindingFacts]]
# Called with each key a rebuild routes (its routing facts only: open_keys)
# and the findings each target hears of, with the urgency_order of each list
# of findings (by id: most targets share one).
Visitor = Callable[[KeyFacts, Routed, dict[int, tuple[Any, ...]]], None]


@dataclass
class Kept:
    """A target with lines: its id in the store and its figures."""

    id: int
    figures: Figures
    address: str = ""  # the target's, in lower case
    moved: bool = False


@dataclass
class Refreshed:
    targets: dict[Target, Kept]  # each target with lines
    redone: int  # keys whose lines were redone
    rebuilt: bool  # all of them, from history


def shared_target(receiver: str) -> Target:
    """The target a receiver's own addresses and webhooks share in the lines."""
    return Target(receiver, "", "")


def own_targets(config: AlertsConfig, receiver: str) -> list[Target]:
    """RECEIVER's webhooks and fixed addresses: what shared_target stands for."""
    found = config.receiver(receiver)
    targets = [Target(receiver, "webhook", w.name) for w in found.webhooks]
    if found.email is not None:
        targets += [Target(receiver, "email", address) for address in found.email.to]
    return targets


def routing_of(config: AlertsConfig, owners: OwnerResolver, receivers: Collection[str]) -> str:
    """What lines depend on beside history: this code and schema, the alert
    configuration, the owner resolver and the receivers they are kept for.
    Empty when the resolver cannot say what its answers depend on: lines are
    then rebuilt on every scan."""
    identity = owners.identity()
    if identity is None:
        return ""
    # An upgrade or a migration may change what history holds or how it is read.
    code = (code_digest((__name__,)), head_revision())
    text = "\x00".join((*code, identity, config.model_dump_json(), *sorted(receivers)))
    return hashlib.sha256(text.encode()).hexdigest()


def refresh(
    conn: Connection,
    config: AlertsConfig,
    router: Router,
    scan_id: int,
    receivers: Collection[str],
    visit: Visitor | None = None,
) -> Refreshed:
    """Bring the lines of RECEIVERS' targets to SCAN_ID: redo the keys whose
    versions moved since the lines' scan, or all of them when the routing is
    not the lines' or VISIT must see every key."""
    routing = routing_of(config, router.owners, receivers)
    store = DigestLines(conn)
    state = store.state()
    writer = _Writer(store, config, router, set(receivers))
    reuse = visit is None and routing != "" and state is not None and state[1] == routing
    if reuse and state is not None and state[0] <= scan_id:
        writer.load_targets()
        names = sorted(moved_since(conn, state[0]))
        writer.forget(names)
        redone = writer.write(open_keys(conn, scan_id, names, routing_only=True), None)
        rebuilt = False
    else:
        store.clear()
        with store.loading():
            redone = writer.write(open_keys(conn, scan_id, routing_only=True), visit)
        rebuilt = True
    writer.save_targets()
    store.stand_for(scan_id, routing)
    return Refreshed(writer.targets, redone, rebuilt)


class _Writer:
    def __init__(
        self, store: DigestLines, config: AlertsConfig, router: Router, receivers: set[str]
    ) -> None:
        self.store, self.config, self.router, self.receivers = store, config, router, receivers
        self.targets: dict[Target, Kept] = {}
        self._by_id: dict[int, Kept] = {}
        self._named: dict[tuple[str, str, str], bool] = {}
        self._lined: dict[Target, Target | None] = {}  # a routed target -> its line's, if kept

    def load_targets(self) -> None:
        for id_, receiver, channel, address, figures in self.store.targets():
            kept = Kept(id_, Figures.of(figures), address.lower())
            self.targets[Target(receiver, channel, address)] = self._by_id[id_] = kept

    def forget(self, names: list[str]) -> None:
        """Count the lines of keys NAMES out of their targets' figures, and drop them."""
        for target_id, *values in self.store.take(names):
            kept = self._by_id[target_id]
            kept.figures.count(tuple(values), -1)
            kept.moved = True

    def write(
        self,
        keys: Iterable[tuple[KeyFacts, list[FindingFacts], list[FindingFacts]]],
        visit: Visitor | None,
    ) -> int:
        """Write the lines of KEYS; returns how many keys had findings."""
        redone = 0
        pending: list[tuple[Any, ...]] = []
        unowned: list[tuple[str]] = []
        for key, findings, accepted in keys:
            redone += 1
            listed = self.router.key_targets(key, findings) if findings else {}
            orders: dict[int, tuple[Any, ...]] = {}
            for routed in listed.values():
                if id(routed) not in orders:
                    orders[id(routed)] = urgency_order(key, routed)
            if visit is not None:
                visit(key, listed, orders)
            self._lines(key, listed, orders, accepted, pending)
            if key.name in self.router.unowned:
                unowned.append((key.name,))
            if len(pending) >= BATCH:
                self.store.add_lines(pending)
                pending = []
        self.store.add_lines(pending)
        for start in range(0, len(unowned), BATCH):
            self.store.add_unowned(unowned[start : start + BATCH])
        return redone

    def _lines(
        self,
        key: KeyFacts,
        listed: Routed,
        orders: dict[int, tuple[Any, ...]],
        accepted: list[FindingFacts],
        into: list[tuple[Any, ...]],
    ) -> None:
        accepting: set[Target] = set()
        for finding in accepted:
            accepting.update(self.router.targets(key, finding))
        targets = listed if not accepting else {**listed, **dict.fromkeys(accepting)}
        urgencies: dict[int, str] = {}
        creator = key.creator.lower() if key.creator is not None else None
        owners = {o.lower() for o in key.owners} if key.owners else ()
        done: set[Target] = set()
        for target in targets:
            if target in self._lined:
                lined = self._lined[target]
            else:
                lined = self._lined[target] = self._line_target(target)
            if lined is None or lined in done:
                continue
            done.add(lined)
            routed = listed.get(target)
            urgency = ""
            if routed is not None:
                urgency = urgencies.get(id(routed), "")
                if not urgency:
                    urgency = urgencies[id(routed)] = urgency_text(orders[id(routed)])
            kept = self._kept(lined)
            created = creator is not None and creator == kept.address
            line: Line = (
                routed is not None,
                target in accepting,
                urgency,
                key.status,
                key.project,
                self._named_for(lined.address, key),
                not created and kept.address in owners,
                (key.display_name or key.uid) if created else None,
            )
            kept.figures.count(line, 1)
            into.append((key.name, kept.id, *line))  # the columns' order (BulkTable.names)

    def _line_target(self, target: Target) -> Target | None:
        """The target TARGET's lines are kept under; None: none are kept."""
        if target.receiver not in self.receivers:
            return None
        receiver = self.config.receiver(target.receiver)
        email = receiver.email
        if target.channel == "webhook" or (email is not None and target.address in email.to):
            return shared_target(target.receiver)
        return target

    def _named_for(self, address: str, key: KeyFacts) -> bool:
        at = (address, key.project, key.project_number)
        named = self._named.get(at)
        if named is None:
            named = self._named[at] = named_by_config(self.config, address, key)
        return named

    def _kept(self, target: Target) -> Kept:
        kept = self.targets.get(target)
        if kept is None:
            new_id = self.store.add_target(
                target.receiver, target.channel, target.address, Figures().as_json()
            )
            kept = Kept(new_id, Figures(), target.address.lower())
            self.targets[target] = self._by_id[new_id] = kept
        kept.moved = True
        return kept

    def save_targets(self) -> None:
        for target, kept in list(self.targets.items()):
            if not kept.moved:
                continue
            figures = kept.figures
            if not figures.total and not figures.accepted:
                self.store.drop_target(kept.id)
                del self.targets[target]
            else:
                self.store.set_figures(kept.id, figures.as_json())
