"""Accepted risk: the exception that accepts a finding, on its interval and on
the transitions about it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accepted_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exception_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_column("exception_id")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("accepted_by")
