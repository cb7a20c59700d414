"""Tables of the custody slice: sub-accounts, receipts, deals, cut-off runs and lines,
daily checks and the pay-in sweep's watermark.

Revision ID: 0007_custody
Revises: 0006_split
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import UTCDateTime

revision = "0007_custody"
down_revision = "0006_split"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_subaccounts",
        sa.Column("bank", sa.String(24), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("virtual_account", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("bank", "merchant_id", "owner"),
        sa.UniqueConstraint("bank", "virtual_account", name="ux_custody_subaccounts_virtual"),
    )
    op.create_table(
        "custody_receipts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("bank", sa.String(24), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deal_id", sa.String(64), nullable=True),
        sa.Column("cutoff_step", sa.String(16), nullable=True),
        sa.Column("move_attempt", sa.Integer, nullable=False),
        sa.Column("refund_id", sa.String(64), nullable=True),
        sa.Column("error", sa.String(256), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_custody_receipts_day", "custody_receipts", ["bank", "business_date", "status"]
    )
    op.create_index("ix_custody_receipts_merchant", "custody_receipts", ["merchant_id", "id"])
    op.create_table(
        "custody_deals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("bank", sa.String(24), nullable=False),
        sa.Column("buyer", sa.String(32), nullable=False),
        sa.Column("seller", sa.String(32), nullable=False),
        sa.Column("agency", sa.String(32), nullable=False),
        sa.Column("deposit_amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("funded_amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("close_attempt", sa.Integer, nullable=False),
        sa.Column("closing", sa.Boolean, nullable=False),
        sa.Column("commission", sa.BigInteger, nullable=True),
        sa.Column("rest_to", sa.String(8), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "custody_cutoff_runs",
        sa.Column("bank", sa.String(24), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("refunds", sa.Integer, nullable=False),
        sa.Column("report_path", sa.String(512), nullable=True),
        sa.PrimaryKeyConstraint("bank", "business_date"),
    )
    op.create_table(
        "custody_cutoff_lines",
        sa.Column("receipt_id", sa.String(64), primary_key=True),
        sa.Column("bank", sa.String(24), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.String(128), nullable=False),
        sa.Column("refund_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(64), nullable=False),
    )
    op.create_index(
        "ix_custody_cutoff_lines_run", "custody_cutoff_lines", ["bank", "business_date"]
    )
    op.create_table(
        "custody_checks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("bank", sa.String(24), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("subaccounts_total", sa.BigInteger, nullable=False),
        sa.Column("pool_balance", sa.BigInteger, nullable=False),
        sa.Column("bank_balance", sa.BigInteger, nullable=True),
        sa.Column("checked_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_custody_checks_day", "custody_checks", ["bank", "business_date"])
    op.create_table(
        "custody_sweeps",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("swept_until", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("custody_sweeps")
    op.drop_index("ix_custody_checks_day", table_name="custody_checks")
    op.drop_table("custody_checks")
    op.drop_index("ix_custody_cutoff_lines_run", table_name="custody_cutoff_lines")
    op.drop_table("custody_cutoff_lines")
    op.drop_table("custody_cutoff_runs")
    op.drop_table("custody_deals")
    op.drop_index("ix_custody_receipts_merchant", table_name="custody_receipts")
    op.drop_index("ix_custody_receipts_day", table_name="custody_receipts")
    op.drop_table("custody_receipts")
    op.drop_table("custody_subaccounts")
