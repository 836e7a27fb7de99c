"""How much of the organization each evidence source covered in a scan:
whether the scan used it, and how many projects it covered or failed for.
A scan that succeeded on thin evidence says so here (and in /metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.core.models import InventoryContext

SOURCES = ("inventory", "iam", "usage", "audit", "leaks")


def _entry(used: bool, projects: int, failed: int) -> dict[str, Any]:
    if not used:
        return {"used": False, "covered": 0, "failed": 0}
    return {"used": True, "covered": max(projects - failed, 0), "failed": failed}


def coverage(
    context: InventoryContext,
    usage_errors: Mapping[str, str] | None,
    audit_errors: Mapping[str, str] | None,
    leaks_imported: bool,
) -> dict[str, dict[str, Any]]:
    """Per source: used, projects covered and projects failed. USAGE_ERRORS and
    AUDIT_ERRORS are None when the scan did not read that source; IAM covers the
    projects whose policy the inventory listed; leak reports are organization-wide."""
    projects = len(context.projects)
    iam = context.iam
    without_policy = (
        sum(1 for n in context.projects if f"projects/{n}" not in iam.bindings)
        if iam is not None
        else 0
    )
    return {
        "inventory": _entry(True, projects, 0),
        "iam": _entry(iam is not None, projects, without_policy),
        "usage": _entry(usage_errors is not None, projects, len(usage_errors or {})),
        "audit": _entry(audit_errors is not None, projects, len(audit_errors or {})),
        "leaks": _entry(leaks_imported, projects, 0),
    }
