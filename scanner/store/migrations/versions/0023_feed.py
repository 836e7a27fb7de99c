"""feed: a scan's kind (a full scan, or one applying Cloud Asset feed
messages to a few keys) and the inventory context each full scan judged
with, which feed scans judge their keys with until the next full scan.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "scans", sa.Column("kind", sa.String(length=8), nullable=False, server_default="full")
    )
    op.create_table(
        "inventory_contexts",
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"]),
        sa.PrimaryKeyConstraint("scan_id"),
    )


def downgrade() -> None:
    op.drop_table("inventory_contexts")
    op.drop_column("scans", "kind")
