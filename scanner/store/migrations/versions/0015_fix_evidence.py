"""What `fix plan` and `fix apply` need. Each usage interval keeps what the
key called per service over the lookback (requests by response class, first
and last day) and how many days of the lookback the project's series cover:
the evidence a restriction is proposed from. Each key version keeps the
API's etag of the key, which a fix must still find. All stay NULL on rows
written before.

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


def downgrade() -> None:
    with op.batch_alter_table("key_versions") as batch:
        batch.drop_column("etag")
    with op.batch_alter_table("usage_versions") as batch:
        batch.drop_column("covered_days")
        batch.drop_column("services")
