"""Initial schema: scans, key versions, findings, transitions.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(), nullable=False),
        sa.Column("assets_read", sa.Integer(), nullable=False),
        sa.Column("keys_total", sa.Integer(), nullable=False),
        sa.Column("findings_open", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_status"), ["status"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.Column("valid_from_scan_id", sa.Integer(), nullable=False),
        sa.Column("valid_to_scan_id", sa.Integer(), nullable=True),
        sa.Column("state_hash", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("checklist", sa.String(length=64), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("deadline_kind", sa.String(length=16), nullable=True),
        sa.Column("timeline_entry", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["valid_from_scan_id"],
            ["scans.id"],
        ),
        sa.ForeignKeyConstraint(
            ["valid_to_scan_id"],
            ["scans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_findings_fingerprint", ["fingerprint", "valid_from_scan_id"], unique=False
        )
        batch_op.create_index("ix_findings_open", ["valid_to_scan_id"], unique=False)

    op.create_table(
        "key_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.Column("valid_from_scan_id", sa.Integer(), nullable=False),
        sa.Column("valid_to_scan_id", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("project_number", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("service_account", sa.String(length=320), nullable=True),
        sa.Column("api_targets", sa.JSON(), nullable=False),
        sa.Column("application_restriction", sa.String(length=16), nullable=False),
        sa.Column("application_values", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("gemini_enabled", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["valid_from_scan_id"],
            ["scans.id"],
        ),
        sa.ForeignKeyConstraint(
            ["valid_to_scan_id"],
            ["scans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("key_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_key_versions_name", ["key_name", "valid_from_scan_id"], unique=False
        )
        batch_op.create_index("ix_key_versions_open", ["valid_to_scan_id"], unique=False)

    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key_name", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=True),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("from_value", sa.String(length=32), nullable=True),
        sa.Column("to_value", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["scans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transitions_key_name"), ["key_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_transitions_scan_id"), ["scan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transitions_scan_id"))
        batch_op.drop_index(batch_op.f("ix_transitions_key_name"))

    op.drop_table("transitions")
    with op.batch_alter_table("key_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_key_versions_open")
        batch_op.drop_index("ix_key_versions_name")

    op.drop_table("key_versions")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_open")
        batch_op.drop_index("ix_findings_fingerprint")

    op.drop_table("findings")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_status"))

    op.drop_table("scans")
