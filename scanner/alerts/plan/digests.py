"""Digests and overviews: the keys that need action, per recipient, split
within the channel's limits. A digest goes once per receiver and period; an
overview is the first scan's single message to a recipient without one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.alerts.content.digest_content import Content, DigestContent, urgency_order
from scanner.alerts.content.limits import split
from scanner.alerts.content.payload import digest_document, digest_subject
from scanner.alerts.facts import FindingFacts, KeyFacts, Target
from scanner.alerts.plan.routing import Router
from scanner.alerts.store import outbox
from scanner.alerts.store.open_keys import open_keys
from scanner.config.alerts import AlertsConfig, DigestConfig

Contents = dict[Target, DigestContent]


def collect(
    contents: Contents,
    make: Callable[[Target], DigestContent | None],
    key: KeyFacts,
    targets: dict[Target, list[FindingFacts]],
    orders: dict[int, tuple[Any, ...]] | None = None,
) -> None:
    """File KEY with its FINDINGS under each target MAKE gives a digest's content
    for; ORDERS has the urgency_order of lists of findings (by id) known already."""
    orders = {} if orders is None else orders  # most targets share one list of findings
    for target, findings in targets.items():
        content = contents.get(target)
        if content is None:
            made = make(target)
            if made is None:
                continue
            content = contents[target] = made
        order = orders.get(id(findings))
        if order is None:
            order = orders[id(findings)] = urgency_order(key, findings)
        content.add(key, findings, order)


def max_keys(config: AlertsConfig, receiver: str) -> int:
    digest = config.receiver(receiver).digest
    return digest.max_keys if digest is not None else DigestConfig().max_keys


def due_digests(conn: Connection, config: AlertsConfig, at: datetime) -> dict[str, int]:
    """Receivers whose digest for the current period is not queued yet: period."""
    due = {}
    for receiver in config.receivers:
        if receiver.digest is None:
            continue
        period = int(at.timestamp() // receiver.digest.every)
        if not outbox.digest_period_done(conn, receiver.name, period):
            due[receiver.name] = period
    return due


def _parts(
    config: AlertsConfig, target: Target, document: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    parts = split(config, target, document, digest_subject)
    total = len(parts)
    return [
        (digest_subject(p) + (f" ({i}/{total})" if total > 1 else ""), p)
        for i, p in enumerate(parts, 1)
    ]


def digest_rows(
    config: AlertsConfig,
    target: Target,
    period: int,
    content: Content,
    scan_id: int,
    at: datetime,
    overview: bool,
    accepted_keys: int,
) -> list[dict[str, Any]]:
    document = digest_document(config, target.receiver, content, scan_id, at, overview)
    document["accepted_keys"] = accepted_keys
    rows = []
    for index, (subject, part) in enumerate(_parts(config, target, document)):
        key = outbox.digest_key(target.receiver, period, target.channel, target.address)
        key = key if index == 0 else f"{key}:{index}"
        rows.append(outbox.target_row(target, key, "digest", subject, part, scan_id, at))
    return rows


def overview_rows(
    config: AlertsConfig,
    target: Target,
    content: Content,
    scan_id: int,
    at: datetime,
) -> list[dict[str, Any]]:
    document = digest_document(config, target.receiver, content, scan_id, at, overview=True)
    rows = []
    for index, (subject, part) in enumerate(_parts(config, target, document)):
        key = outbox.target_key(target, "overview", f"overview:{scan_id}:{index}")
        rows.append(outbox.target_row(target, key, "overview", subject, part, scan_id, at))
    return rows


def digests(
    conn: Connection,
    config: AlertsConfig,
    router: Router,
    scan_id: int,
    at: datetime,
    receivers: set[str],
) -> list[tuple[Target, str, dict[str, Any]]]:
    """What each target of RECEIVERS would get as a digest now (the preview)."""
    contents: Contents = {}

    def make(target: Target) -> DigestContent | None:
        if target.receiver not in receivers:
            return None
        return DigestContent(config, target, max_keys(config, target.receiver), frozenset())

    for key, findings, _ in open_keys(conn, scan_id):
        if findings:
            collect(contents, make, key, router.key_targets(key, findings))
    found: list[tuple[Target, str, dict[str, Any]]] = []
    for target, content in sorted(contents.items(), key=lambda item: str(item[0])):
        document = digest_document(config, target.receiver, content, scan_id, at)
        found.extend((target, subject, part) for subject, part in _parts(config, target, document))
    return found
