"""The hash chain records where it began (chain_origin: the scans before it,
which only a database upgraded from before schema 0010 has, and the first
chained scan with its hash), and every scan sealed from now on carries that
origin in what it hashes; it also covers the failed scans, leak imports,
leak reports and key fixes written since the scan before it (chain_scan_id:
the scan whose entry covers the row) and its own figures.

The origin is read off the history as it stands: the succeeded scans without
a chain hash that come before the first one with it predate the chain; any
other scan without one is a break that `keysentry verify` reports.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERED = ("scans", "leak_imports", "leak_reports", "key_fixes")


def upgrade() -> None:
    op.create_table(
        "chain_origin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unchained_through", sa.Integer(), nullable=False),
        sa.Column("first_scan_id", sa.Integer(), nullable=True),
        sa.Column("first_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for table in COVERED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("chain_scan_id", sa.Integer(), nullable=True))
            batch.create_index(f"ix_{table}_chain_scan_id", ["chain_scan_id"])
    with op.batch_alter_table("scans") as batch:
        batch.add_column(sa.Column("chain_origin", sa.String(length=160), nullable=True))
    conn = op.get_bind()
    first = conn.execute(
        sa.text(
            "SELECT id, chain_hash FROM scans WHERE status = 'succeeded' "
            "AND chain_hash IS NOT NULL ORDER BY id LIMIT 1"
        )
    ).first()
    # The succeeded scans without a hash before the first with one (all of
    # them when none has one yet) predate the chain.
    unchained = sa.text(
        "SELECT MAX(id) FROM scans WHERE status = 'succeeded' AND chain_hash IS NULL"
        " AND id < :first"
    )
    bound = 2**62 if first is None else int(first.id)
    through = conn.execute(unchained, {"first": bound}).scalar()
    conn.execute(
        sa.text(
            "INSERT INTO chain_origin (id, unchained_through, first_scan_id, first_hash) "
            "VALUES (1, :unchained, :first_id, :first_hash)"
        ),
        {
            "unchained": through or 0,
            "first_id": None if first is None else first.id,
            "first_hash": None if first is None else first.chain_hash,
        },
    )


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of scans
    # would drop the table the other tables' foreign keys point at.
    op.drop_column("scans", "chain_origin")
    for table in COVERED:
        op.drop_index(f"ix_{table}_chain_scan_id", table_name=table)
        op.drop_column(table, "chain_scan_id")
    op.drop_table("chain_origin")
