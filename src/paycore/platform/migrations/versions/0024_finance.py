"""Finance: vouchers derived from the journal, their lines and push state, and the daily
reconciliation (issue 14).

Revision ID: 0024_finance
Revises: 0023_ops_incidents
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0024_finance"
down_revision = "0023_ops_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finance_vouchers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("voucher_type", sa.String(32), nullable=False),
        sa.Column("summary", sa.String(256), nullable=False),
        sa.Column("debit_total_minor", sa.BigInteger, nullable=False),
        sa.Column("credit_total_minor", sa.BigInteger, nullable=False),
        sa.Column("transfer_count", sa.BigInteger, nullable=False),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("push_status", sa.String(16), nullable=False),
        sa.Column("push_attempts", sa.Integer, nullable=False),
        sa.Column("next_push_at", UTCDateTime, nullable=False),
        sa.Column("lease_id", sa.String(32), nullable=True),
        sa.Column("leased_until", UTCDateTime, nullable=True),
        sa.Column("pushed_at", UTCDateTime, nullable=True),
        sa.Column("receiver_ref", sa.String(64), nullable=True),
        sa.Column("last_error", sa.String(256), nullable=False),
    )
    op.create_index("ix_finance_vouchers_date", "finance_vouchers", ["business_date"])
    op.create_index("ix_finance_vouchers_push", "finance_vouchers", ["push_status", "next_push_at"])
    op.create_table(
        "finance_voucher_lines",
        sa.Column("voucher_id", sa.String(64), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("gl_account", sa.String(32), nullable=False),
        sa.Column("ledger_code", sa.Integer, nullable=False),
        sa.Column("debit_minor", sa.BigInteger, nullable=False),
        sa.Column("credit_minor", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("voucher_id", "line_no", name="pk_finance_voucher_lines"),
    )
    op.create_table(
        "finance_days",
        sa.Column("business_date", sa.Date, primary_key=True),
        sa.Column("vouchers", sa.Integer, nullable=False),
        sa.Column("derived_at", UTCDateTime, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("recon_status", sa.String(16), nullable=False),
        sa.Column("recon_at", UTCDateTime, nullable=True),
        sa.Column("recon_breaks", JSONDocument, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("finance_days")
    op.drop_table("finance_voucher_lines")
    op.drop_table("finance_vouchers")
