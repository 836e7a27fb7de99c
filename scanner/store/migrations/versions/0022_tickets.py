"""tickets: each group of findings and its Jira or ServiceNow ticket, with
what the ticket last said and the lease of the worker creating it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("remote_key", sa.String(length=128), nullable=True),
        sa.Column("remote_id", sa.String(length=128), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=32), nullable=True),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.Column("key_names", sa.JSON(), nullable=False),
        sa.Column("create_attempted_at", sa.DateTime(), nullable=True),
        sa.Column("declined", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
    )


def downgrade() -> None:
    op.drop_table("tickets")
