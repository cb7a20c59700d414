"""Tables of the rewards slice: budgets, batches and each row's outcome.

Revision ID: 0009_rewards
Revises: 0008_collection
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import UTCDateTime

revision = "0009_rewards"
down_revision = "0008_collection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rewards_budgets",
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("budget_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("row_amount_max", sa.BigInteger, nullable=False),
        sa.Column("recipient_total_max", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "budget_id"),
    )
    op.create_table(
        "rewards_batches",
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("budget_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "batch_id"),
    )
    op.create_table(
        "rewards_rows",
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("budget_id", sa.String(64), nullable=False),
        sa.Column("row_number", sa.Integer, nullable=True),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=True),
        sa.Column("amount_text", sa.String(32), nullable=False),
        sa.Column("note", sa.String(256), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("retryable", sa.Boolean, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "batch_id", "position"),
    )
    op.create_index(
        "ix_rewards_rows_recipient", "rewards_rows", ["merchant_id", "budget_id", "recipient"]
    )


def downgrade() -> None:
    op.drop_index("ix_rewards_rows_recipient", table_name="rewards_rows")
    op.drop_table("rewards_rows")
    op.drop_table("rewards_batches")
    op.drop_table("rewards_budgets")
