"""Leaked key strings from secret scanners, as fingerprints; the last day's
requests and the 28-day daily median of each key.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leak_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("fingerprint_key_id", sa.String(length=16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "leak_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("secret_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("secret_kind", sa.String(length=8), nullable=False),
        sa.Column("redacted", sa.String(length=16), nullable=False),
        sa.Column("tool", sa.String(length=16), nullable=False),
        sa.Column("repository", sa.Text(), nullable=True),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("commit", sa.String(length=128), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("first_reported", sa.DateTime(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("publicly_leaked", sa.Boolean(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=True),
        sa.Column("key_uid", sa.String(length=128), nullable=True),
        sa.Column("parent", sa.String(length=255), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["leak_imports.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_fingerprint"),
    )
    with op.batch_alter_table("leak_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_leak_reports_secret_fingerprint"), ["secret_fingerprint"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_leak_reports_key_uid"), ["key_uid"], unique=False)
    op.create_table(
        "leak_lookups",
        sa.Column("secret_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=True),
        sa.Column("parent", sa.String(length=255), nullable=True),
        sa.Column("looked_up_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("secret_fingerprint"),
    )
    with op.batch_alter_table("key_usage", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("requests_1d", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("daily_median_28d", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("key_usage", schema=None) as batch_op:
        batch_op.drop_column("daily_median_28d")
        batch_op.drop_column("requests_1d")
    op.drop_table("leak_lookups")
    op.drop_table("leak_reports")
    op.drop_table("leak_imports")
