"""Checks that stop a scan before it rewrites history wrongly: one evaluated
before the latest successful scan, and one that sees far fewer keys or
projects than the recent scans did (usually a scope or permission mistake,
not a real shrink). The comparison is with the largest inventory of a recent
window, so that a shrink cannot be walked down a step at a time."""

from __future__ import annotations

from datetime import datetime

from scanner.core.errors import InputError, KeysentryError
from scanner.scan.progress import Stage
from scanner.store.scans import Peak, ShrinkBaseline
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


def shrink_problem(seen: int, before: Peak | None, max_shrink: float, what: str) -> str | None:
    """Why SEEN is too few against BEFORE (None: nothing to compare with)."""
    if before is None or not before.count:
        return None
    where = f"{before.count} in scan {before.scan_id} ({before.why})"
    if seen == 0:
        return f"0 {what} seen, {where}"
    floor = before.count * (1 - max_shrink)
    if seen < floor:
        return (
            f"{seen} {what} seen, {where} "
            f"(inventory.max_shrink {max_shrink:g} allows {floor:g} or more)"
        )
    return None


def shrink_problems(
    keys: int, projects: int, baseline: ShrinkBaseline, max_shrink: float
) -> list[str]:
    """Why far fewer keys or projects are seen than BASELINE holds."""
    found = (
        shrink_problem(keys, baseline.keys, max_shrink, "keys"),
        shrink_problem(projects, baseline.projects, max_shrink, "projects"),
    )
    return [p for p in found if p]


def check_shrink(problems: list[str], stage: Stage) -> None:
    """Raise InventoryShrank, with STAGE named "shrink", for PROBLEMS."""
    if problems:
        stage.name = "shrink"
        raise InventoryShrank(
            f"the inventory shrank: {'; '.join(problems)}; nothing was recorded. If the "
            "organization really shrank, scan again with --accept-shrink"
        )
