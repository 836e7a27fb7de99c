"""Alert planning keeps each open key's place in the digests it belongs to
(digest_lines) with each digest's figures (digest_targets), the keys routed
to owners nobody knows (unowned_keys) and what they stand for
(digest_line_state), and redoes them only for the keys whose versions
moved; reminders look findings up by deadline (ix_findings_deadline). The
tables start empty: the first scan with alerts after the upgrade fills them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_findings_deadline", "findings", ["deadline", "valid_to_scan_id"])
    op.create_table(
        "digest_targets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "digest_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "key_name",
            sa.String(length=255).with_variant(sa.String(255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("urgency", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("owned", sa.Boolean(), nullable=False),
        sa.Column("created", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_digest_lines_key_name", "digest_lines", ["key_name"])
    op.create_index(
        "ix_digest_lines_order",
        "digest_lines",
        ["target_id", "listed", "urgency", "key_name"],
    )
    op.create_table(
        "unowned_keys",
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("key_name"),
    )
    op.create_table(
        "digest_line_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("routing", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("digest_line_state")
    op.drop_table("unowned_keys")
    op.drop_table("digest_lines")
    op.drop_table("digest_targets")
    op.drop_index("ix_findings_deadline", table_name="findings")
