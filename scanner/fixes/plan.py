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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from scanner.rules.catalog import ALL_RULES
from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion, UsageVersion

SCHEMA = "keysentry.fix.plan/v1"
# The rules a new API restriction resolves: those whose checklist restricts the key.
RESTRICTION_RULES = tuple(meta.id for meta in ALL_RULES if meta.checklist == "restrict-key")
_BATCH = 500


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


def _findings(conn: Connection, scan_id: int, rules: tuple[str, ...]) -> dict[str, list[str]]:
    """Key name -> the open, unaccepted findings of RULES, by rule id."""
    fv = FindingVersion
    query = select(fv.key_name, fv.rule_id).where(
        valid_at(fv, scan_id), fv.accepted_by.is_(None), fv.rule_id.in_(rules)
    )
    found: dict[str, list[str]] = defaultdict(list)
    for name, rule in conn.execute(query):
        found[name].append(rule)
    return found


def _keys(conn: Connection, scan_id: int, names: list[str]) -> Iterator[tuple[Any, Any]]:
    """Each key version valid at SCAN_ID among NAMES, with its usage row or None."""
    kv, uv = KeyVersion, UsageVersion
    for start in range(0, len(names), _BATCH):
        batch = names[start : start + _BATCH]
        usage = {
            row.key_name: row
            for row in conn.execute(
                select(uv.key_name, uv.lookback_days, uv.services, uv.covered_days).where(
                    uv.key_name.in_(batch), valid_at(uv, scan_id)
                )
            )
        }
        query = select(
            kv.key_name,
            kv.uid,
            kv.project_id,
            kv.project_number,
            kv.display_name,
            kv.api_targets,
            kv.etag,
            kv.deleted_at,
        ).where(kv.key_name.in_(batch), valid_at(kv, scan_id))
        for key in conn.execute(query.order_by(kv.key_name)):
            yield key, usage.get(key.key_name)


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
    findings = _findings(conn, scan.id, scope.rules)
    entries = []
    for key, usage in _keys(conn, scan.id, sorted(findings)):
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
