"""Merchant notifications: the outbox (events, deliveries) and the delivery log.

Revision ID: 0004_notifications
Revises: 0003_payments
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0004_notifications"
down_revision = "0003_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("payload", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_notification_events_merchant_id", "notification_events", ["merchant_id", "id"]
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("leased_until", UTCDateTime, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
    )
    op.create_index(
        "ix_notification_deliveries_due",
        "notification_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("attempted_at", UTCDateTime, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.String(200), nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_notification_attempts_event_id", "notification_attempts", ["event_id", "id"]
    )


def downgrade() -> None:
    op.drop_table("notification_attempts")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_events")
