"""Each key version carries a digest of the key's findings, so that a scan
reads back the open findings only of keys whose digest moved; the open
findings index gains the key name for that lookup (and for listing the
subjects with open findings), and findings are indexed by key name, for
reading a batch of keys' findings at any scan (the report). Versions written
before have no digest: the first scan after the upgrade reads every key's
findings and writes each key a version with its digest, once.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column is added in place on both databases, under the views of 0012.
    op.add_column("key_versions", sa.Column("findings_hash", sa.String(length=32), nullable=True))
    op.drop_index("ix_findings_open", table_name="findings")
    op.create_index("ix_findings_open", "findings", ["valid_to_scan_id", "key_name"])
    op.create_index("ix_findings_name", "findings", ["key_name", "valid_from_scan_id"])


def downgrade() -> None:
    op.drop_index("ix_findings_name", table_name="findings")
    op.drop_index("ix_findings_open", table_name="findings")
    op.create_index("ix_findings_open", "findings", ["valid_to_scan_id"])
    with op.batch_alter_table("key_versions") as batch:
        batch.drop_column("findings_hash")
