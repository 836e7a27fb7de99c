"""Each key version carries a digest of the key as its source listed it (the
resource's bytes, its creator and its leak reports), so that a scan keeps the
last judgement of a key whose digest did not move without decoding it.
Versions written before have none: the first scan from Cloud Asset after the
upgrade writes each key a version with its digest, once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("key_versions", sa.Column("source_hash", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("key_versions") as batch:
        batch.drop_column("source_hash")
