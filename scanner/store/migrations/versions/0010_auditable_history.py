"""History an auditor can rely on: usage figures as validity intervals (what
each scan knew), a reason on resolved transitions, the configuration each scan
was judged under, and a hash chain over what each scan wrote.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_USAGE_COLUMNS = (
    "last_used, lookback_days, requests_7d, requests_30d, gemini_requests_7d, "
    "gemini_rejected_7d, requests_1d, daily_median_28d"
)


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("chain_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "scan_configs",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("first_scan_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["first_scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=32), nullable=True))
    with op.batch_alter_table("key_versions", schema=None) as batch_op:
        batch_op.create_index("ix_key_versions_from", ["valid_from_scan_id"], unique=False)
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index("ix_findings_from", ["valid_from_scan_id"], unique=False)
    with op.batch_alter_table("key_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_events_scan_id"), ["scan_id"], unique=False)
    op.create_table(
        "usage_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.Column("valid_from_scan_id", sa.Integer(), nullable=False),
        sa.Column("valid_to_scan_id", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("requests_7d", sa.Integer(), nullable=False),
        sa.Column("requests_30d", sa.Integer(), nullable=False),
        sa.Column("gemini_requests_7d", sa.Integer(), nullable=False),
        sa.Column("gemini_rejected_7d", sa.Integer(), nullable=False),
        sa.Column("requests_1d", sa.Integer(), nullable=False),
        sa.Column("daily_median_28d", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["valid_from_scan_id"], ["scans.id"]),
        sa.ForeignKeyConstraint(["valid_to_scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("usage_versions", schema=None) as batch_op:
        batch_op.create_index("ix_usage_versions_open", ["valid_to_scan_id"], unique=False)
        batch_op.create_index(
            "ix_usage_versions_name", ["key_name", "valid_from_scan_id"], unique=False
        )
        batch_op.create_index("ix_usage_versions_from", ["valid_from_scan_id"], unique=False)
    # The latest figures become open intervals from the scan that read them. Their
    # empty hash differs from any real one, so the next scan rewrites each once.
    op.execute(
        "INSERT INTO usage_versions (key_name, valid_from_scan_id, content_hash, "  # noqa: S608
        f"{_USAGE_COLUMNS}) SELECT key_name, scan_id, '', {_USAGE_COLUMNS} FROM key_usage"
    )
    op.drop_table("key_usage")


def downgrade() -> None:
    op.create_table(
        "key_usage",
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.Column("lookback_days", sa.Integer(), nullable=False),
        sa.Column("requests_7d", sa.Integer(), nullable=False),
        sa.Column("requests_30d", sa.Integer(), nullable=False),
        sa.Column("gemini_requests_7d", sa.Integer(), nullable=False),
        sa.Column("gemini_rejected_7d", sa.Integer(), nullable=False),
        sa.Column("requests_1d", sa.Integer(), server_default="0", nullable=False),
        sa.Column("daily_median_28d", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("key_name"),
    )
    op.execute(
        "INSERT INTO key_usage (key_name, scan_id, "  # noqa: S608
        f"{_USAGE_COLUMNS}) SELECT key_name, valid_from_scan_id, {_USAGE_COLUMNS} "
        "FROM usage_versions WHERE valid_to_scan_id IS NULL"
    )
    op.drop_table("usage_versions")
    with op.batch_alter_table("key_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_events_scan_id"))
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_from")
    with op.batch_alter_table("key_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_key_versions_from")
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_column("reason")
    op.drop_table("scan_configs")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_column("chain_hash")
        batch_op.drop_column("config_digest")
