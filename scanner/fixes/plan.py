"""`fix plan`: for each key with an open API-restriction finding, the API
restriction its observed usage supports, with the evidence and a confidence.

A key is proposed the services it called over the usage lookback. The
confidence says how much of the lookback the usage data covers: `high` all of
it, `low` part of it, `none` no per-service data for the key's project (then
nothing is proposed). A key that called nothing is proposed for a deletion
review, never deleted; a key that calls Gemini and other services is proposed
as two keys, in steps a person takes. Findings an exception accepts are left
out. Only `restrict` entries are ever applied (`fix apply`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.rules.catalog import ALL_RULES
from scanner.store.fix_inputs import keys_with_usage, unaccepted_findings

SCHEMA = "keysentry.fix.plan/v1"
# The rules a new API restriction resolves: those whose checklist restricts the key.
RESTRICTION_RULES = tuple(meta.id for meta in ALL_RULES if meta.checklist == "restrict-key")


@dataclass(frozen=True)
class PlanScope:
    rules: tuple[str, ...] = RESTRICTION_RULES
    projects: frozenset[str] = frozenset()  # project ids or numbers; empty: all
    keys: frozenset[str] = frozenset()  # full names, uids or key ids; empty: all


def _wanted(key: Any, scope: PlanScope) -> bool:
    if scope.projects and not {key.project_id, key.project_number} & scope.projects:
        return False
    key_id = key.key_name.rsplit("/", 1)[-1]
    return not scope.keys or bool({key.key_name, key.uid, key_id} & scope.keys)


def plan_entry(key: Any, usage: Any, rules: list[str], gemini: frozenset[str]) -> dict[str, Any]:
    """The proposal for one key from its version and usage rows."""
    entry: dict[str, Any] = {
        "key": key.key_name,
        "uid": key.uid,
        "project": key.project_id or key.project_number,
        "display_name": key.display_name,
        "etag": key.etag,
        "rules": sorted(rules),
        "current_api_targets": list(key.api_targets),
    }
    if usage is None or usage.covered_days is None:
        why = (
            "no usage data for the key's project"
            if usage is None
            else "usage per service not recorded yet (a scan with usage after schema 0015 adds it)"
        )
        return entry | {"action": "none", "confidence": "none", "why": why, "evidence": None}
    lookback = usage.lookback_days
    share = min(1.0, usage.covered_days / lookback) if lookback else 0.0
    evidence = {
        "lookback_days": lookback,
        "covered_days": usage.covered_days,
        "covered_share": round(share, 3),
        "services": usage.services or [],
    }
    confidence = "high" if usage.covered_days >= lookback else "low"
    base = entry | {"confidence": confidence, "evidence": evidence}
    called = sorted(d["service"] for d in usage.services or [])
    if not called:
        days = usage.covered_days
        why = f"no request in the {days} days usage data covers: review whether it is still needed"
        return base | {"action": "review-deletion", "why": why}
    for_gemini = [s for s in called if s in gemini]
    others = [s for s in called if s not in gemini]
    if for_gemini and others:
        return base | {
            "action": "split",
            "why": f"called Gemini and {len(others)} other service(s): one key each",
            "steps": split_steps(for_gemini, others),
        }
    return base | {
        "action": "restrict",
        "proposed_api_targets": called,
        "why": f"called only {', '.join(called)} in the {usage.covered_days} days covered",
    }


def split_steps(gemini: list[str], others: list[str]) -> list[str]:
    return [
        "Create a new key for the Gemini callers in AI Studio (new keys are auth keys, "
        "restricted to the Gemini API).",
        f"Move every caller of {', '.join(gemini)} to the new key; test.",
        f"Restrict this key to {', '.join(others)} (Cloud Console, or `keysentry fix plan` "
        "again once it no longer calls Gemini).",
        "Watch the next scans' usage: no Gemini request with this key should remain.",
    ]


def build_plan(
    conn: Connection,
    scan: Any,
    scope: PlanScope,
    gemini: frozenset[str],
    created_at: datetime,
) -> dict[str, Any]:
    """The plan document for SCAN (a succeeded scan row)."""
    findings = unaccepted_findings(conn, scan.id, scope.rules)
    entries = []
    for key, usage in keys_with_usage(conn, scan.id, sorted(findings)):
        if key.deleted_at is not None or not _wanted(key, scope):
            continue
        entries.append(plan_entry(key, usage, findings[key.key_name], gemini))
    counts: dict[str, int] = defaultdict(int)
    for e in entries:
        counts[e["action"]] += 1
    return {
        "schema": SCHEMA,
        "scan": scan.id,
        "evaluated_at": scan.evaluated_at,
        "created_at": created_at,
        "rules": list(scope.rules),
        # What `fix apply` holds the entries to: no key beyond these is changed.
        "scope": {"projects": sorted(scope.projects), "keys": sorted(scope.keys)},
        "counts": dict(sorted(counts.items())),
        "keys": entries,
    }
