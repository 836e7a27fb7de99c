"""`fix plan`: for each key with an open API-restriction finding, the API
restriction its observed usage supports, with the evidence and a confidence.

A key is proposed the services it called over the usage lookback. The
confidence says how much of the lookback the usage data covers: `high` all of
it, `low` part of it or calls that were all refused, `none` no per-service
data for the key's project (then nothing is proposed); each entry says why,
and what a wrong guess would break. A key that called nothing over at least
the dormancy window is proposed for a deletion review, never deleted (over
less, nothing is proposed: the owner's checklist stands); a key that calls
Gemini and other services is proposed as two keys, in steps a person takes.
Findings an exception accepts are left out. Only `restrict` entries are ever
applied (`fix apply`), those below its --min-confidence only when named."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scanner.rules.catalog import ALL_RULES
from scanner.store.fix_inputs import keys_with_usage, unaccepted_findings

SCHEMA = "keysentry.fix.plan/v1"
# The rules a new API restriction resolves: those whose checklist restricts the
# key, or deletes it unless someone still needs it (then restricts it).
RESTRICTION_RULES = tuple(
    meta.id for meta in ALL_RULES if meta.checklist in ("restrict-key", "remove-unused-key")
)


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


def _served(service: dict[str, Any]) -> int:
    """Requests to SERVICE answered 2xx or 3xx: the calls that worked."""
    classes = service.get("by_class") or {}
    return sum(n for c, n in classes.items() if c[:1] in ("2", "3"))


def plan_entry(
    key: Any, usage: Any, rules: list[str], gemini: frozenset[str], dormancy_days: int = 90
) -> dict[str, Any]:
    """The proposal for one key from its version and usage rows: what it has,
    what to give it, the evidence by response class, how sure that is and
    why, and what a wrong guess would break."""
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
        return entry | {
            "action": "none",
            "confidence": "none",
            "confidence_reason": why,
            "why": why,
            "evidence": None,
        }
    lookback, covered = usage.lookback_days, usage.covered_days
    share = min(1.0, covered / lookback) if lookback else 0.0
    services = usage.services or []
    evidence = {
        "lookback_days": lookback,
        "covered_days": covered,
        "covered_share": round(share, 3),
        "services": services,
    }
    confidence = "high" if covered >= lookback else "low"
    reason = (
        f"usage covers the whole {lookback}-day lookback"
        if confidence == "high"
        else f"usage covers {covered} of {lookback} days"
    )
    base = entry | {"confidence": confidence, "confidence_reason": reason, "evidence": evidence}
    called = sorted(d["service"] for d in services)
    if not called:
        if covered < dormancy_days:
            # Too little data to call the key unused: the owner's checklist stands.
            why = (
                f"no request in the {covered} days of usage data: too few to call it unused "
                f"(rules.dormancy_days: {dormancy_days})"
            )
            return base | {"action": "none", "why": why}
        why = f"no request in the {covered} days of usage data: review whether it is still needed"
        risk = "deleting it breaks any caller that did not call in those days"
        return base | {"action": "review-deletion", "why": why, "risk": risk}
    refused = sorted(
        d["service"].removesuffix(".googleapis.com") for d in services if not _served(d)
    )
    if refused:  # calls that never worked prove only that someone tries
        base |= {
            "confidence": "low",
            "confidence_reason": f"every request to {', '.join(refused)} was refused (4xx/5xx); "
            + reason,
        }
    for_gemini = [s for s in called if s in gemini]
    others = [s for s in called if s not in gemini]
    if for_gemini and others:
        return base | {
            "action": "split",
            "why": f"called Gemini and {len(others)} other service(s): one key each",
            "steps": split_steps(for_gemini, others),
            "risk": "moving callers to a new key breaks any caller left on the old one",
        }
    return base | {
        "action": "restrict",
        "proposed_api_targets": called,
        "why": f"called only {', '.join(called)} in the {covered} days covered",
        "risk": f"a caller of any other API, not seen in the {covered} days covered, is refused",
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
    dormancy_days: int = 90,
) -> dict[str, Any]:
    """The plan document for SCAN (a succeeded scan row)."""
    findings = unaccepted_findings(conn, scan.id, scope.rules)
    entries = []
    for key, usage in keys_with_usage(conn, scan.id, sorted(findings)):
        if key.deleted_at is not None or not _wanted(key, scope):
            continue
        entries.append(plan_entry(key, usage, findings[key.key_name], gemini, dormancy_days))
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
