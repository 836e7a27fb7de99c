"""The current_keys view: every key of the latest successful scan with what
the report's table shows of it (status, owners, project, in use, worst
finding, when the findings that set its status fall due), for the
dashboard's Keys table (Grafana's PostgreSQL data source).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _valid_at(alias: str) -> str:
    return (
        f"{alias}.valid_from_scan_id <= s.id"
        f" AND ({alias}.valid_to_scan_id IS NULL OR {alias}.valid_to_scan_id > s.id)"
    )


# The finding that sets a key's status, as core.status_due chooses it: a
# blocked key's earliest passed enforced deadline (accepted or not), a
# non-compliant key's worst finding of medium severity or more (nearest due
# first), a key at risk's finding due soonest.
_SEVERITY_RANK = (
    "CASE f.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1"
    " WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END"
)
_MINE = f"f.key_name = k.key_name AND {_valid_at('f')}"
_OPEN = f"{_MINE} AND f.accepted_by IS NULL"


def _day(column: str) -> str:
    # SQLite keeps the UTC text SQLAlchemy wrote; PostgreSQL a timestamp without zone.
    if op.get_bind().dialect.name == "sqlite":
        return f"date({column})"
    return f"CAST({column} AS DATE)"


def _due() -> str:
    # Constant text throughout (S608): no input reaches these statements.
    blocked = (
        f"SELECT min(f.deadline) FROM findings f WHERE {_MINE}"  # noqa: S608
        f" AND f.deadline_kind = 'enforced' AND f.deadline <= {_day('s.evaluated_at')}"
    )
    non_compliant = (
        f"SELECT f.deadline FROM findings f WHERE {_OPEN}"  # noqa: S608
        " AND f.severity IN ('critical', 'high', 'medium')"
        f" ORDER BY {_SEVERITY_RANK}, CASE WHEN f.deadline IS NULL THEN 1 ELSE 0 END,"
        " f.deadline LIMIT 1"
    )
    at_risk = f"SELECT min(f.deadline) FROM findings f WHERE {_OPEN}"  # noqa: S608
    return (
        f"CASE k.status WHEN 'blocked' THEN ({blocked})"
        f" WHEN 'non_compliant' THEN ({non_compliant})"
        f" WHEN 'at_risk' THEN ({at_risk}) END"
    )


def upgrade() -> None:
    op.execute(
        "CREATE VIEW current_keys AS"  # noqa: S608 (constant text, no input)
        " SELECT s.id AS scan_id, s.evaluated_at AS evaluated_at, k.key_name AS key_name,"
        " k.uid AS key_id, k.display_name AS display_name,"
        " COALESCE(k.project_id, k.project_number) AS project,"
        " k.project_number AS project_number, k.key_type AS key_type, k.status AS status,"
        " k.score AS score, k.owners AS owners,"
        " CASE WHEN u.requests_30d IS NULL THEN NULL"
        " WHEN u.requests_30d > 0 THEN 1 ELSE 0 END AS in_use,"
        " u.requests_30d AS requests_30d,"
        f" (SELECT f.rule_id FROM findings f WHERE {_OPEN}"
        f" ORDER BY {_SEVERITY_RANK}, f.deadline LIMIT 1) AS worst_rule,"
        f" {_due()} AS due"
        " FROM scans s"
        f" JOIN key_versions k ON {_valid_at('k')}"
        f" LEFT JOIN usage_versions u ON u.key_name = k.key_name AND {_valid_at('u')}"
        " WHERE s.id = (SELECT max(id) FROM scans WHERE status = 'succeeded')"
    )


def downgrade() -> None:
    op.execute("DROP VIEW current_keys")
