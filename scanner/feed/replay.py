"""Saved feed messages: a file of JSON lines, each the data of one Pub/Sub
message (what `gcloud pubsub subscriptions pull --format='value(message.data)'`
prints, decoded), applied to history as the worker would have applied them,
for tests and to recover what a stopped subscriber missed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from scanner.core.errors import InputError
from scanner.feed.messages import Change, parse


def read_messages(path: Path) -> tuple[list[Change], Counter[str]]:
    """The key changes in PATH, and the count of the other lines by what they
    were (welcome, another asset type). Blank lines are skipped."""
    changes: list[Change] = []
    others: Counter[str] = Counter()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            found = parse(line, f"{path}:{lineno}")
            if isinstance(found, Change):
                changes.append(found)
            else:
                others["welcome" if found is None else "other_asset_type"] += 1
    return changes, others
