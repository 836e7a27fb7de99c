"""The latest usage figures per key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("key_name"),
    )


def downgrade() -> None:
    op.drop_table("key_usage")
