"""Views over history for quarter-long trends outside Prometheus: the last
succeeded scan of each UTC day, keys by status and open findings as of it,
and transitions per day (README, "The data it stores"). Grafana's PostgreSQL
data source reads them (the dashboard's History row).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = ("daily_transitions", "daily_findings_open", "daily_keys_by_status", "daily_scans")


def _day(column: str) -> str:
    # SQLite keeps the UTC text SQLAlchemy wrote; PostgreSQL a timestamp without zone.
    if op.get_bind().dialect.name == "sqlite":
        return f"date({column})"
    return f"CAST({column} AS DATE)"


def _valid_at(alias: str) -> str:
    return (
        f"{alias}.valid_from_scan_id <= d.scan_id"
        f" AND ({alias}.valid_to_scan_id IS NULL OR {alias}.valid_to_scan_id > d.scan_id)"
    )


def upgrade() -> None:
    op.execute(
        "CREATE VIEW daily_scans AS"  # noqa: S608 (constant text, no input)
        f" SELECT {_day('evaluated_at')} AS day, max(id) AS scan_id FROM scans"
        f" WHERE status = 'succeeded' GROUP BY {_day('evaluated_at')}"
    )
    op.execute(
        "CREATE VIEW daily_keys_by_status AS"  # noqa: S608 (constant text, no input)
        " SELECT d.day AS day, k.status AS status, k.key_type AS key_type, count(*) AS keys"
        f" FROM daily_scans d JOIN key_versions k ON {_valid_at('k')}"
        " GROUP BY d.day, k.status, k.key_type"
    )
    accepted = "CASE WHEN f.accepted_by IS NULL THEN 0 ELSE 1 END"
    op.execute(
        "CREATE VIEW daily_findings_open AS"  # noqa: S608 (constant text, no input)
        " SELECT d.day AS day, f.rule_id AS rule_id, f.severity AS severity,"
        f" {accepted} AS accepted, count(*) AS findings"
        f" FROM daily_scans d JOIN findings f ON {_valid_at('f')}"
        f" GROUP BY d.day, f.rule_id, f.severity, {accepted}"
    )
    op.execute(
        "CREATE VIEW daily_transitions AS"  # noqa: S608 (constant text, no input)
        f" SELECT {_day('t.at')} AS day, t.kind AS kind, t.rule_id AS rule_id,"
        " t.reason AS reason, t.to_value AS to_value, count(*) AS transitions"
        " FROM transitions t JOIN scans s ON s.id = t.scan_id WHERE s.status = 'succeeded'"
        f" GROUP BY {_day('t.at')}, t.kind, t.rule_id, t.reason, t.to_value"
    )


def downgrade() -> None:
    for view in VIEWS:
        op.execute(f"DROP VIEW {view}")
