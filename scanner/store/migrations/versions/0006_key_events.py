"""Key events from the audit log, and each key version's creator.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("insert_id", sa.String(length=128), nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("principal", sa.String(length=320), nullable=True),
        sa.Column("restrictions_removed", sa.Boolean(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("insert_id"),
    )
    with op.batch_alter_table("key_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_events_key_name"), ["key_name"], unique=False)
    with op.batch_alter_table("key_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creator", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("key_versions", schema=None) as batch_op:
        batch_op.drop_column("creator")
    op.drop_table("key_events")
