"""The tickets a message's keys are in, added to the message when it is sent:
a scan queues its messages before its tickets are made, so a link found at
queue time would be missing on the first day and stale after a reopen."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from scanner.config.tickets import TicketsConfig
from scanner.store import tickets as store
from scanner.tickets.groups import group_id, grouped_by

Payload = dict[str, Any]  # a notification document (scanner.alerts.content.payload)


def _candidates(config: TicketsConfig, key: dict[str, Any]) -> list[str]:
    what = grouped_by(config, key["name"], key.get("project") or "", key.get("owners") or ())
    return [group_id(r.name, what) for r in config.receivers]


def with_tickets(engine: Engine, config: TicketsConfig, payload: Payload) -> Payload:
    """PAYLOAD with, on each key, the tickets its findings are in
    (`actions.tickets`: ticket, url, state); PAYLOAD itself when no key has one."""
    keys = [k for k in payload.get("keys") or () if isinstance(k, dict) and "name" in k]
    if not config.receivers or not keys:
        return payload
    wanted = {k["name"]: _candidates(config, k) for k in keys}
    with engine.connect() as conn:
        found = store.by_group(conn, [gid for ids in wanted.values() for gid in ids])
    if not found:
        return payload
    documents = []
    for key in payload["keys"]:
        tickets = [
            {"ticket": t.remote_key, "url": t.url, "state": t.state}
            for gid in wanted.get(key.get("name"), ())
            if (t := found.get(gid)) is not None
        ]
        actions = (key.get("actions") or {}) | {"tickets": tickets}
        documents.append(key | {"actions": actions} if tickets else key)
    return payload | {"keys": documents}


def ticket_links(engine: Engine, config: TicketsConfig) -> Callable[[Payload], Payload]:
    """What the dispatcher calls on each payload it sends."""
    return functools.partial(with_tickets, engine, config)
