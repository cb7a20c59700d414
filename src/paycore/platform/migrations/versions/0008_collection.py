"""Tables of the collection slice: plans, their monthly periods and each attempt.

Revision ID: 0008_collection
Revises: 0007_custody
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import UTCDateTime

revision = "0008_collection"
down_revision = "0007_custody"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_plans",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(64), nullable=True),
        sa.Column("tenant", sa.String(32), nullable=False),
        sa.Column("landlord", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fee_bps", sa.Integer, nullable=True),
        sa.Column("fee_fixed", sa.BigInteger, nullable=True),
        sa.Column("fee_amount", sa.BigInteger, nullable=False),
        sa.Column("due_day", sa.String(4), nullable=False),
        sa.Column("start_month", sa.Date, nullable=False),
        sa.Column("periods", sa.Integer, nullable=True),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("card_enc", sa.String(512), nullable=True),
        sa.Column("card_masked", sa.String(32), nullable=True),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("retry_interval_s", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("next_period_no", sa.Integer, nullable=False),
        sa.Column("next_due_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_collection_plans_merchant", "collection_plans", ["merchant_id", "id"])
    op.create_index(
        "ux_collection_plans_reference",
        "collection_plans",
        ["merchant_id", "reference"],
        unique=True,
    )
    op.create_index("ix_collection_plans_due", "collection_plans", ["status", "next_due_at"])
    op.create_table(
        "collection_periods",
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("period_no", sa.Integer, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts_made", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "period_no"),
    )
    op.create_index(
        "ix_collection_periods_retry", "collection_periods", ["status", "next_attempt_at"]
    )
    op.create_table(
        "collection_attempts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("period_no", sa.Integer, nullable=False),
        sa.Column("attempt_no", sa.Integer, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("payin_id", sa.String(64), nullable=True),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("settle_tries", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_collection_attempts_plan", "collection_attempts", ["plan_id", "period_no"])
    op.create_index("ix_collection_attempts_open", "collection_attempts", ["status", "lease_until"])


def downgrade() -> None:
    op.drop_table("collection_attempts")
    op.drop_table("collection_periods")
    op.drop_table("collection_plans")
