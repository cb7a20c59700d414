"""Tables of the split slice: rules, splits and refunds after split.

Revision ID: 0006_split
Revises: 0005_payments_finished
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0006_split"
down_revision = "0005_payments_finished"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "split_rules",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("freeze_s", sa.Integer, nullable=False),
        sa.Column("receivers", JSONDocument, nullable=False),
        sa.Column("commission_bps", sa.Integer, nullable=False),
        sa.Column("commission_amount", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ux_split_rules_active",
        "split_rules",
        ["merchant_id", "product", "currency"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )
    op.create_table(
        "split_splits",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("payin_id", sa.String(64), nullable=False, unique=True),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("freeze_s", sa.Integer, nullable=False),
        sa.Column("payin_amount", sa.BigInteger, nullable=False),
        sa.Column("base", sa.BigInteger, nullable=False),
        sa.Column("legs", JSONDocument, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("refunded", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("pending_op", JSONDocument, nullable=False),
        sa.Column("op_pending", sa.Boolean, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_split_splits_merchant", "split_splits", ["merchant_id", "id"])
    op.create_index("ix_split_splits_status", "split_splits", ["status", "expires_at"])
    op.create_index("ix_split_splits_op_pending", "split_splits", ["op_pending"])
    op.create_table(
        "split_refunds",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("split_id", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("request", JSONDocument, nullable=False),
        sa.Column("claws", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("refund_order_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_split_refunds_split", "split_refunds", ["split_id"])
    op.create_index("ix_split_refunds_status", "split_refunds", ["status"])


def downgrade() -> None:
    op.drop_table("split_refunds")
    op.drop_table("split_splits")
    op.drop_table("split_rules")
