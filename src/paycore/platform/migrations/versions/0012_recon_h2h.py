"""Tables of the bank host-to-host link: payouts waiting for a pain.001 file, the files
made, and the pain.002 reports applied.

Revision ID: 0012_recon_h2h
Revises: 0011_recon
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0012_recon_h2h"
down_revision = "0011_recon"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recon_h2h_payouts",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("msg_id", sa.String(35), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("bank_status", sa.String(4), nullable=True),
        sa.Column("failure_code", sa.String(35), nullable=True),
        sa.Column("failure_class", sa.String(8), nullable=True),
        sa.Column("bank_reference", sa.String(35), nullable=True),
        sa.Column("report_msg_id", sa.String(35), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_recon_h2h_payouts_channel_msg", "recon_h2h_payouts", ["channel", "msg_id"])
    op.create_table(
        "recon_h2h_files",
        sa.Column("msg_id", sa.String(35), primary_key=True),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("execution_date", sa.Date, nullable=False),
        sa.Column("tx_count", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
    )
    op.create_index(
        "ix_recon_h2h_files_channel_created", "recon_h2h_files", ["channel", "created_at"]
    )
    op.create_table(
        "recon_h2h_reports",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("msg_id", sa.String(35), nullable=False),
        sa.Column("original_msg_id", sa.String(35), nullable=False),
        sa.Column("applied_at", UTCDateTime, nullable=False),
        sa.Column("outcome", JSONDocument, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recon_h2h_reports")
    op.drop_index("ix_recon_h2h_files_channel_created", table_name="recon_h2h_files")
    op.drop_table("recon_h2h_files")
    op.drop_index("ix_recon_h2h_payouts_channel_msg", table_name="recon_h2h_payouts")
    op.drop_table("recon_h2h_payouts")
