"""The rules in force: what a scan's verdicts depend on besides the keys
themselves (the judging parts of the configuration, the deadline timeline and
the rule catalog of this version), as one JSON document. Channel addresses,
credentials and the database URL are left out: they judge nothing and may be
secret."""

from __future__ import annotations

from typing import Any

from scanner import __version__
from scanner.config import Config
from scanner.rules.catalog import ALL_RULES

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
