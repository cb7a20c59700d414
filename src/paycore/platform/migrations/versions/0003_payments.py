"""Payments: orders, channel attempts, idempotency keys and received channel callbacks.

Revision ID: 0003_payments
Revises: 0002_merchants
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0003_payments"
down_revision = "0002_merchants"
branch_labels = None
depends_on = None

_UNRESOLVED = sa.text("status IN ('created', 'processing')")


def upgrade() -> None:
    op.create_table(
        "payment_orders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("merchant_reference", sa.String(64), nullable=True),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fee_amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result_unknown", sa.Boolean, nullable=False),
        sa.Column("channel", sa.String(24), nullable=True),
        sa.Column("channel_txn_id", sa.String(64), nullable=True),
        sa.Column("failure_class", sa.String(16), nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("failure_message", sa.String(256), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("refunded_amount", sa.BigInteger, nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("party_enc", JSONDocument, nullable=False),
        sa.Column("party_masked", JSONDocument, nullable=False),
        sa.Column("metadata", JSONDocument, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("next_query_at", UTCDateTime, nullable=True),
        sa.Column("query_attempts", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_payment_orders_merchant", "payment_orders", ["merchant_id", "kind", "id"])
    op.create_index(
        "ux_payment_orders_reference",
        "payment_orders",
        ["merchant_id", "kind", "merchant_reference"],
        unique=True,
    )
    op.create_index("ix_payment_orders_parent", "payment_orders", ["parent_id"])
    op.create_index(
        "ix_payment_orders_due",
        "payment_orders",
        ["next_query_at"],
        postgresql_where=_UNRESOLVED,
        sqlite_where=_UNRESOLVED,
    )
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("business_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_class", sa.String(16), nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=True),
    )
    op.create_index("ix_payment_attempts_order", "payment_attempts", ["order_id"])
    op.create_index(
        "ix_payment_attempts_day", "payment_attempts", ["business_date", "product", "channel"]
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=True),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response", JSONDocument, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "key"),
    )
    op.create_table(
        "channel_callbacks",
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("notification_id", sa.String(128), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("channel", "notification_id"),
    )


def downgrade() -> None:
    op.drop_table("channel_callbacks")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_payment_attempts_day", table_name="payment_attempts")
    op.drop_index("ix_payment_attempts_order", table_name="payment_attempts")
    op.drop_table("payment_attempts")
    for name in (
        "ix_payment_orders_due",
        "ix_payment_orders_parent",
        "ux_payment_orders_reference",
        "ix_payment_orders_merchant",
    ):
        op.drop_index(name, table_name="payment_orders")
    op.drop_table("payment_orders")
