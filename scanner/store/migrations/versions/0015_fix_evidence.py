"""What `fix plan` and `fix apply` need. Each usage interval keeps what the
key called per service over the lookback (requests by response class, first
and last day) and how many days of the lookback the project's series cover:
the evidence a restriction is proposed from. Each key version keeps the
API's etag of the key, which a fix must still find. All stay NULL on rows
written before. key_fixes records each change `fix apply` and `fix rollback`
make.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("usage_versions", sa.Column("services", sa.JSON(), nullable=True))
    op.add_column("usage_versions", sa.Column("covered_days", sa.Integer(), nullable=True))
    op.add_column("key_versions", sa.Column("etag", sa.String(length=128), nullable=True))
    op.create_table(
        "key_fixes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("plan_scan_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("etag_before", sa.String(length=128), nullable=False),
        sa.Column("etag_after", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_key_fixes_key_name", "key_fixes", ["key_name"])
    op.create_index("ix_key_fixes_at", "key_fixes", ["at"])


def downgrade() -> None:
    op.drop_table("key_fixes")
    with op.batch_alter_table("key_versions") as batch:
        batch.drop_column("etag")
    with op.batch_alter_table("usage_versions") as batch:
        batch.drop_column("covered_days")
        batch.drop_column("services")
