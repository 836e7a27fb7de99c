"""What a report of one scan reads: its keys worst first with their usage,
their findings a batch at a time, the keys it no longer saw, and the
findings about projects. Keys stream, so a large organization's report
never holds them all."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from scanner.core.models import KeyStatus
from scanner.store.queries import valid_at
from scanner.store.tables import FindingVersion, KeyVersion, Scan, Transition, UsageVersion

_STREAM_BATCH = 1000


def left_inventory(conn: Connection, scan_id: int) -> list[dict[str, Any]]:
    """Keys SCAN_ID no longer saw, with the last scan that did."""
    t, kv = Transition, KeyVersion
    last = and_(kv.key_name == t.key_name, kv.valid_to_scan_id == scan_id)
    query = (
        select(t.key_name, kv.valid_from_scan_id, kv.status, kv.project_id, kv.display_name)
        .join(kv, last)
        .where(t.scan_id == scan_id, t.kind == "status_changed", t.to_value.is_(None))
        .order_by(t.key_name)
    )
    previous = conn.scalar(
        select(func.max(Scan.id)).where(Scan.status == "succeeded", Scan.id < scan_id)
    )
    at = conn.scalar(select(Scan.evaluated_at).where(Scan.id == previous))
    return [
        {
            "name": row.key_name,
            "project": row.project_id,
            "display_name": row.display_name,
            "last_status": row.status,
            "last_seen_scan": previous,
            "last_seen_at": at,
        }
        for row in conn.execute(query)
    ]


def project_findings(conn: Connection, scan_id: int) -> list[dict[str, Any]]:
    """Findings about projects rather than keys (subject projects/N) open at SCAN_ID."""
    fv = FindingVersion
    query = (
        select(fv.key_name, fv.rule_id, fv.severity, fv.summary, fv.checklist)
        .where(valid_at(fv, scan_id), fv.key_name.not_like("%/keys/%"))
        .order_by(fv.key_name, fv.rule_id)
    )
    return [
        {
            "subject": row.key_name,
            "rule": row.rule_id,
            "severity": row.severity,
            "summary": row.summary,
            "checklist": row.checklist,
        }
        for row in conn.execute(query)
    ]


def key_batches(conn: Connection, scan_id: int) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The keys at SCAN_ID with their usage, a batch at a time, worst first:
    by status, then score, project and name. Columns as in report.build._key."""
    kv = KeyVersion
    ku = UsageVersion
    status_rank = case({s.value: s.rank for s in KeyStatus}, value=kv.status, else_=99)
    project = func.coalesce(kv.project_id, kv.project_number)
    query = (
        select(
            kv.key_name,
            kv.uid,
            project.label("project"),
            kv.project_number,
            kv.display_name,
            kv.key_type,
            kv.service_account,
            kv.api_targets,
            kv.application_restriction,
            kv.gemini_enabled,
            kv.created_at,
            kv.status,
            kv.score,
            kv.owners,
            kv.creator,
            kv.key_admins,
            ku.last_used,
            ku.requests_7d,
            ku.requests_30d,
            ku.gemini_rejected_7d,
            ku.requests_1d,
            ku.daily_median_28d,
            ku.services,
            ku.covered_days,
            kv.api_methods,
        )
        .outerjoin(ku, and_(ku.key_name == kv.key_name, valid_at(ku, scan_id)))
        .where(valid_at(kv, scan_id))
        .order_by(status_rank, kv.score.desc(), project, kv.key_name)
    )
    result = conn.execute(query.execution_options(yield_per=_STREAM_BATCH))
    yield from result.partitions()


def finding_rows(conn: Connection, names: list[str], scan_id: int) -> Iterator[tuple[Any, ...]]:
    """(key, rule, severity, deadline, deadline kind, summary, checklist,
    accepted by) of each finding of the keys NAMES open at SCAN_ID."""
    fv = FindingVersion
    query = select(
        fv.key_name,
        fv.rule_id,
        fv.severity,
        fv.deadline,
        fv.deadline_kind,
        fv.summary,
        fv.checklist,
        fv.accepted_by,
    ).where(fv.key_name.in_(names), valid_at(fv, scan_id))
    yield from conn.execute(query)


def opened_findings(conn: Connection, scan_id: int) -> dict[str, tuple[int, datetime]]:
    """Finding fingerprint -> the scan and instant it last opened (or
    reopened) at or before SCAN_ID: how long an open finding has been open."""
    t = Transition
    latest = (
        select(t.fingerprint, func.max(t.scan_id).label("scan_id"))
        .where(t.kind.in_(("opened", "reopened")), t.scan_id <= scan_id)
        .where(t.fingerprint.is_not(None))
        .group_by(t.fingerprint)
        .subquery()
    )
    query = select(t.fingerprint, t.scan_id, t.at).join(
        latest, (latest.c.fingerprint == t.fingerprint) & (latest.c.scan_id == t.scan_id)
    )
    return {fp: (scan, at) for fp, scan, at in conn.execute(query) if fp is not None}
