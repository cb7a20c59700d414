"""Tables of reconciliation: statement imports and lines, runs, breaks and their audit
trail; and an index of payment orders by channel transaction id for matching.

Revision ID: 0011_recon
Revises: 0010_ledger_in_debit
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import UTCDateTime

revision = "0011_recon"
down_revision = "0010_ledger_in_debit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recon_imports",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("file_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("statement_id", sa.String(128), nullable=False),
        sa.Column("line_count", sa.Integer, nullable=False),
        sa.Column("credits", sa.BigInteger, nullable=False),
        sa.Column("debits", sa.BigInteger, nullable=False),
        sa.Column("period_start", sa.Date, nullable=True),
        sa.Column("period_end", sa.Date, nullable=True),
        sa.Column("imported_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "recon_lines",
        sa.Column("import_id", sa.String(64), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("source_ref", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fee", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel_txn_id", sa.String(128), nullable=True),
        sa.Column("reference", sa.String(128), nullable=True),
        sa.Column("booked_at", UTCDateTime, nullable=False),
        sa.Column("duplicate", sa.Boolean, nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("matched_by", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("import_id", "line_no"),
    )
    op.create_index("ix_recon_lines_day", "recon_lines", ["source", "business_date"])
    op.create_index("ix_recon_lines_ref", "recon_lines", ["source", "source_ref"])
    op.create_index("ix_recon_lines_order", "recon_lines", ["order_id"])
    op.create_table(
        "recon_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("matched", sa.Integer, nullable=False),
        sa.Column("waiting", sa.Integer, nullable=False),
        sa.Column("breaks_new", sa.Integer, nullable=False),
        sa.Column("auto_resolved", sa.Integer, nullable=False),
        sa.Column("queried_back", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_recon_runs_day", "recon_runs", ["source", "business_date"])
    op.create_table(
        "recon_breaks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(200), nullable=False, unique=True),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("import_id", sa.String(64), nullable=True),
        sa.Column("line_no", sa.Integer, nullable=True),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("line_amount", sa.BigInteger, nullable=True),
        sa.Column("order_amount", sa.BigInteger, nullable=True),
        sa.Column("line_status", sa.String(16), nullable=True),
        sa.Column("order_status", sa.String(16), nullable=True),
        sa.Column("line_fee", sa.BigInteger, nullable=True),
        sa.Column("order_fee", sa.BigInteger, nullable=True),
        sa.Column("direction", sa.String(8), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("suspense_transfer_id", sa.String(64), nullable=True),
        sa.Column("adjustment_transfer_id", sa.String(64), nullable=True),
        sa.Column("adjustment_attempts", sa.Integer, nullable=False),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_recon_breaks_status", "recon_breaks", ["status", "type", "id"])
    op.create_index("ix_recon_breaks_day", "recon_breaks", ["source", "business_date", "type"])
    op.create_table(
        "recon_break_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("break_id", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("note", sa.String(1000), nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=True),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_recon_break_events_break", "recon_break_events", ["break_id", "id"])
    op.create_index(
        "ix_payment_orders_channel_txn", "payment_orders", ["channel", "channel_txn_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_payment_orders_channel_txn", table_name="payment_orders")
    op.drop_index("ix_recon_break_events_break", table_name="recon_break_events")
    op.drop_table("recon_break_events")
    op.drop_index("ix_recon_breaks_day", table_name="recon_breaks")
    op.drop_index("ix_recon_breaks_status", table_name="recon_breaks")
    op.drop_table("recon_breaks")
    op.drop_index("ix_recon_runs_day", table_name="recon_runs")
    op.drop_table("recon_runs")
    op.drop_index("ix_recon_lines_order", table_name="recon_lines")
    op.drop_index("ix_recon_lines_ref", table_name="recon_lines")
    op.drop_index("ix_recon_lines_day", table_name="recon_lines")
    op.drop_table("recon_lines")
    op.drop_table("recon_imports")
