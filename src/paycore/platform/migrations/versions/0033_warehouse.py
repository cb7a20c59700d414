"""Warehouse: export watermarks and runs (issue 16).

- warehouse_watermarks: per exported table, how far the export got (a journal seq or an
  updated-at instant) and the schema version its files carry.
- warehouse_runs: one row per export of a table; a run still `running` after a crash is
  resumed with the same range, so it writes the same files (warehouse/README.md).
- Indexes on the updated-at of the slices' changing tables, which the export reads by
  range every few minutes (without them each run would scan the whole table).

Revision ID: 0033_warehouse
Revises: 0032_drop_clear_c2
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import UTCDateTime

revision = "0033_warehouse"
down_revision = "0032_drop_clear_c2"
branch_labels = None
depends_on = None

_UPDATED_AT_INDEXES = (
    ("ix_payment_orders_updated", "payment_orders"),
    ("ix_recon_breaks_updated", "recon_breaks"),
    ("ix_custody_receipts_updated", "custody_receipts"),
    ("ix_split_splits_updated", "split_splits"),
)


def upgrade() -> None:
    op.create_table(
        "warehouse_watermarks",
        sa.Column("table_name", sa.String(64), primary_key=True),
        sa.Column("position_seq", sa.BigInteger, nullable=True),
        sa.Column("position_at", UTCDateTime, nullable=True),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "warehouse_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("from_seq", sa.BigInteger, nullable=True),
        sa.Column("to_seq", sa.BigInteger, nullable=True),
        sa.Column("from_at", UTCDateTime, nullable=True),
        sa.Column("to_at", UTCDateTime, nullable=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_warehouse_runs_table", "warehouse_runs", ["table_name", "started_at"])
    for name, table in _UPDATED_AT_INDEXES:
        op.create_index(name, table, ["updated_at"])


def downgrade() -> None:
    for name, table in _UPDATED_AT_INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_index("ix_warehouse_runs_table", table_name="warehouse_runs")
    op.drop_table("warehouse_runs")
    op.drop_table("warehouse_watermarks")
