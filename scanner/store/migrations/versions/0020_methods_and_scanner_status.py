"""A key version keeps the methods its API targets allow (ApiTarget.methods:
a key limited to GenerateContent on the Gemini API), a leak report what its
scanner said of the alert's state (GitHub's `resolved as revoked`), so that
a report contradicted by the inventory can say so, and a key event where
its call came from (a GetKeyString's caller IP).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite has it for a nullable column): a batch copy
    # would drop key_versions under the views that read it.
    op.add_column("key_versions", sa.Column("api_methods", sa.JSON(), nullable=True))
    op.add_column("leak_reports", sa.Column("scanner_status", sa.Text(), nullable=True))
    op.add_column("key_events", sa.Column("caller_ip", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("key_events", "caller_ip")
    op.drop_column("leak_reports", "scanner_status")
    op.drop_column("key_versions", "api_methods")
