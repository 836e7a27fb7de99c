"""The figures the metrics show, read from history. What a succeeded scan
recorded never changes, so its figures are read once per scan; scan health
is read on every scrape with a few small queries."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from scanner.core.models import KeyStatus
from scanner.core.status_due import status_due
from scanner.store.acceptance import accepted_at
from scanner.store.configs import config_document
from scanner.store.due_soon import due_counts
from scanner.store.flow import Flow, read_flow
from scanner.store.queries import FULL, valid_at
from scanner.store.tables import FindingVersion, KeyVersion, Scan

OTHER_PROJECTS = "(other)"  # parentheses cannot appear in a project id
_WORST_FIRST = [s.value for s in KeyStatus]


@dataclass(frozen=True, slots=True)
class TopKey:
    key_name: str
    project: str
    display_name: str
    status: str
    key_type: str
    score: int
    deadline: date | None


@dataclass(frozen=True, slots=True)
class ExceptionFigure:
    id: str
    expires: date  # lapses at the start of this day, UTC
    findings: int  # what it accepted at the scan


@dataclass(frozen=True, slots=True)
class ScanFigures:
    scan_id: int
    keys: dict[tuple[str, str], int]  # (status, key type) -> keys
    projects: dict[tuple[str, str], int]  # (project, status) -> keys, capped
    projects_with_keys: int
    evaluated_on: date
    findings: dict[tuple[str, str], int]  # (rule, severity) -> open findings not accepted
    accepted: dict[tuple[str, str], int]  # (rule, severity) -> findings an exception accepts
    exceptions: list[ExceptionFigure]  # those configured at the scan
    coverage: dict[str, dict[str, Any]]  # source -> used, covered, failed (scanner.scan.coverage)
    due: Counter[tuple[str, str]]  # (rule, bucket) -> open findings (store.due_soon)
    project_due: Counter[tuple[str, str]]  # (project, bucket), capped like `projects`
    flow: Flow  # totals up to the scan (store.flow)
    deadline_keys: dict[str, int]  # timeline entry -> keys with a finding it dates
    top_keys: list[TopKey]


@dataclass(frozen=True, slots=True)
class ScanHealth:
    latest_succeeded: Scan | None
    latest_finished: Scan | None
    outcomes: dict[str, int]  # succeeded | failed -> scans
    errors_by_stage: dict[str, int]
    running: int


def read_health(engine: Engine) -> ScanHealth:
    with engine.connect() as conn:
        by_status: dict[str, int] = {
            status: n
            for status, n in conn.execute(select(Scan.status, func.count()).group_by(Scan.status))
        }
        stages: dict[str, int] = {
            stage: n
            for stage, n in conn.execute(
                select(func.coalesce(Scan.error_stage, "unknown"), func.count())
                .where(Scan.status == "failed")
                .group_by(Scan.error_stage)
            )
        }
        latest_ok_id = conn.scalar(
            select(func.max(Scan.id)).where(Scan.status == "succeeded", Scan.kind == FULL)
        )
        latest_done_id = conn.scalar(select(func.max(Scan.id)).where(Scan.status != "running"))
    scans = _scans_by_id(engine, {i for i in (latest_ok_id, latest_done_id) if i is not None})
    return ScanHealth(
        latest_succeeded=scans.get(latest_ok_id) if latest_ok_id is not None else None,
        latest_finished=scans.get(latest_done_id) if latest_done_id is not None else None,
        outcomes={k: by_status.get(k, 0) for k in ("succeeded", "failed")},
        errors_by_stage=stages,
        running=by_status.get("running", 0),
    )


def _scans_by_id(engine: Engine, ids: set[int]) -> dict[int, Scan]:
    if not ids:
        return {}
    from sqlalchemy.orm import Session

    with Session(engine, expire_on_commit=False) as session:
        return {s.id: s for s in session.scalars(select(Scan).where(Scan.id.in_(ids)))}


def read_figures(engine: Engine, scan_id: int, top_keys: int, max_projects: int) -> ScanFigures:
    live = valid_at(KeyVersion, scan_id)
    open_findings = valid_at(FindingVersion, scan_id)
    project = func.coalesce(KeyVersion.project_id, KeyVersion.project_number)
    with engine.connect() as conn:
        keys = {
            (status, key_type): n
            for status, key_type, n in conn.execute(
                select(KeyVersion.status, KeyVersion.key_type, func.count())
                .where(live)
                .group_by(KeyVersion.status, KeyVersion.key_type)
            )
        }
        per_project: dict[str, dict[str, int]] = defaultdict(dict)
        for name, status, n in conn.execute(
            select(project, KeyVersion.status, func.count())
            .where(live)
            .group_by(project, KeyVersion.status)
        ):
            per_project[name][status] = n
        findings: dict[tuple[str, str], int] = {}
        accepted: dict[tuple[str, str], int] = {}
        for rule, severity, is_accepted, n in conn.execute(
            select(
                FindingVersion.rule_id,
                FindingVersion.severity,
                FindingVersion.accepted_by.is_not(None),
                func.count(),
            )
            .where(open_findings)
            .group_by(
                FindingVersion.rule_id,
                FindingVersion.severity,
                FindingVersion.accepted_by.is_not(None),
            )
        ):
            (accepted if is_accepted else findings)[(rule, severity)] = n
        deadline_keys = {
            str(entry): n
            for entry, n in conn.execute(
                select(
                    FindingVersion.timeline_entry,
                    func.count(func.distinct(FindingVersion.key_name)),
                )
                .where(open_findings, FindingVersion.timeline_entry.is_not(None))
                .group_by(FindingVersion.timeline_entry)
            )
        }
        worst = conn.execute(
            select(
                KeyVersion.key_name,
                project,
                KeyVersion.display_name,
                KeyVersion.status,
                KeyVersion.key_type,
                KeyVersion.score,
            )
            .where(live, KeyVersion.status != KeyStatus.DELETED.value, KeyVersion.score > 0)
            .order_by(KeyVersion.score.desc(), KeyVersion.key_name)
            .limit(top_keys)
        ).all()
        scan = conn.execute(
            select(Scan.evaluated_at, Scan.config_digest, Scan.counts).where(Scan.id == scan_id)
        ).one()
        today = scan.evaluated_at.date()
        deadlines = _status_deadlines(conn, open_findings, worst, today)
        exceptions = exception_figures(conn, scan_id, scan.config_digest)
        shown = capped(per_project, max_projects)
        named = {name for name, _ in shown} - {OTHER_PROJECTS}
        due, project_due = due_counts(conn, scan_id, today, named, OTHER_PROJECTS)
        flow = read_flow(conn, scan_id)
    return ScanFigures(
        scan_id=scan_id,
        keys=keys,
        projects=shown,
        projects_with_keys=len(per_project),
        evaluated_on=scan.evaluated_at.date(),
        findings=findings,
        accepted=accepted,
        exceptions=exceptions,
        coverage=dict((scan.counts or {}).get("coverage") or {}),  # none before it was recorded
        due=due,
        project_due=project_due,
        flow=flow,
        deadline_keys=deadline_keys,
        top_keys=[
            TopKey(name, proj, display, status, key_type, score, deadlines.get(name))
            for name, proj, display, status, key_type, score in worst
        ],
    )


def exception_figures(conn: Connection, scan_id: int, digest: str | None) -> list[ExceptionFigure]:
    """The exceptions the scan was judged under, from its stored rules in
    force, so that every replica shows the same whatever its own config."""
    document = config_document(conn, digest) or {}
    entries = document.get("exceptions", {}).get("entries", [])
    matched = accepted_at(conn, scan_id) if entries else {}
    return [
        ExceptionFigure(e["id"], date.fromisoformat(e["expires"]), matched.get(e["id"], (0, 0))[1])
        for e in entries
    ]


def capped(per_project: dict[str, dict[str, int]], limit: int) -> dict[tuple[str, str], int]:
    """The LIMIT projects with the worst keys, the rest summed as (other);
    nothing when LIMIT is 0 (per-project metrics are off)."""
    if limit == 0:
        return {}

    def badness(item: tuple[str, dict[str, int]]) -> tuple[int, ...]:
        _name, counts = item
        return (*(-counts.get(s, 0) for s in _WORST_FIRST[:3]), -sum(counts.values()))

    ranked = sorted(per_project.items(), key=lambda item: (badness(item), item[0]))
    out: dict[tuple[str, str], int] = {}
    for name, counts in ranked[:limit]:
        for status, n in counts.items():
            out[(name, status)] = n
    for _, counts in ranked[limit:]:
        for status, n in counts.items():
            out[(OTHER_PROJECTS, status)] = out.get((OTHER_PROJECTS, status), 0) + n
    return out


def _status_deadlines(
    conn: Connection, open_findings: Any, worst: Sequence[Any], today: date
) -> dict[str, date | None]:
    """Each of the WORST keys' due date of the finding that sets its status."""
    if not worst:
        return {}
    fv = FindingVersion
    found: dict[str, list[tuple[str, date | None, str | None, bool]]] = defaultdict(list)
    for name, severity, deadline, kind, accepted_by in conn.execute(
        select(fv.key_name, fv.severity, fv.deadline, fv.deadline_kind, fv.accepted_by).where(
            open_findings, fv.key_name.in_([row[0] for row in worst])
        )
    ):
        found[name].append((severity, deadline, kind, accepted_by is not None))
    return {row[0]: status_due(row[3], found.get(row[0], ()), today) for row in worst}
