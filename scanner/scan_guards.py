"""Checks that stop a scan before it rewrites history wrongly: one evaluated
before the latest successful scan, and one that sees far fewer keys or
projects than it (usually a scope or permission mistake, not a real shrink)."""

from __future__ import annotations

from datetime import datetime

from scanner.errors import InputError, KeysentryError
from scanner.scan_progress import Stage
from scanner.store.tables import Scan


class InventoryShrank(KeysentryError):
    """The inventory is much smaller than the last successful scan's."""


class ScanOutOfOrder(InputError):
    """The scan's instant is before the latest successful scan's."""


def check_order(evaluated_at: datetime, latest: Scan | None) -> None:
    if latest is None or evaluated_at >= latest.evaluated_at:
        return
    raise ScanOutOfOrder(
        f"--now {_instant(evaluated_at)} is before scan {latest.id} "
        f"({_instant(latest.evaluated_at)}), the latest successful scan: history only moves "
        "forward, so nothing was recorded. To see what an earlier (or later) date would "
        "give without recording it, add --dry-run"
    )


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def shrink_problem(seen: int, before: int | None, max_shrink: float, what: str) -> str | None:
    """Why SEEN is too few against BEFORE (None: nothing to compare with)."""
    if not before:
        return None
    if seen == 0:
        return f"0 {what} seen, {before} in the last successful scan"
    floor = before * (1 - max_shrink)
    if seen < floor:
        return (
            f"{seen} {what} seen, {before} in the last successful scan "
            f"(inventory.max_shrink {max_shrink:g} allows {floor:g} or more)"
        )
    return None


def check_shrink(
    keys: int, projects: int, latest: Scan | None, max_shrink: float, stage: Stage
) -> None:
    """Raise InventoryShrank, with STAGE named "shrink", when far fewer keys or
    projects are seen than LATEST saw."""
    if latest is None:
        return
    before_projects = (latest.counts or {}).get("inventory", {}).get("projects")
    problems = [
        p
        for p in (
            shrink_problem(keys, latest.keys_total, max_shrink, "keys"),
            shrink_problem(projects, before_projects, max_shrink, "projects"),
        )
        if p
    ]
    if problems:
        stage.name = "shrink"
        raise InventoryShrank(
            f"the inventory shrank: {'; '.join(problems)}; nothing was recorded. If the "
            "organization really shrank, scan again with --accept-shrink"
        )
