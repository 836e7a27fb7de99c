"""The rules in force: what a scan's verdicts depend on besides the keys
themselves (the judging parts of the configuration, the deadline timeline and
the rule catalog of this version), as one JSON document. Channel addresses,
credentials and the database URL are left out: they judge nothing and may be
secret. The owners map (alerts.owners) is in: it decides key-orphaned."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scanner import __version__
from scanner.config import Config
from scanner.rules.catalog import ALL_RULES
from scanner.store.configs import config_document

# The sections of the configuration whose values change a verdict.
JUDGING_SECTIONS = ("rules", "gemini", "ownership")


def in_force_document(config: Config) -> dict[str, Any]:
    disabled = set(config.rules.disabled)
    return {
        "keysentry": __version__,
        "timeline": [entry.model_dump(mode="json") for entry in config.timeline],
        "config": {
            **{name: getattr(config, name).model_dump(mode="json") for name in JUDGING_SECTIONS},
            "usage": {
                "lookback_days": config.usage.lookback_days,
                "rejected_share": config.usage.rejected_share,
            },
            "inventory": {"iam": config.inventory.iam, "max_shrink": config.inventory.max_shrink},
            # key-orphaned reads who the owners map names: a verdict depends on it.
            "alerts": {"owners": config.alerts.owners},
        },
        # Exceptions decide whether a finding counts, not whether it exists.
        "exceptions": {
            "max_days": config.exceptions.max_days,
            "remind_days": config.exceptions.remind_days,
            "entries": [e.model_dump(mode="json") for e in config.exceptions.entries],
        },
        "rules": [
            {
                "id": m.id,
                "title": m.title,
                "severity": m.severity.value,
                "checklist": m.checklist,
                "needs": m.needs,
                "references": list(m.references),
                "enabled": m.id not in disabled,
            }
            for m in ALL_RULES
        ],
    }


def judging_changed(
    conn: Connection, before: str | None, digest: str, document: dict[str, Any]
) -> bool:
    """Whether the rules in force changed since the digest BEFORE in a way that
    can make a finding appear or go: exceptions only mark findings, so a scan
    that changed only them resolves nothing with `config_changed`."""
    if before is None or before == digest:
        return False
    previous = config_document(conn, before)
    if previous is None:
        return True
    return _without_exceptions(previous) != _without_exceptions(document)


def _without_exceptions(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "exceptions"}
