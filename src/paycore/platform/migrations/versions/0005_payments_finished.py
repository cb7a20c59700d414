"""Index of orders by when they finished, for the flows that sweep them (split, custody).

Revision ID: 0005_payments_finished
Revises: 0004_notifications
Create Date: 2026-11-25
"""

from alembic import op

revision = "0005_payments_finished"
down_revision = "0004_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_payment_orders_finished", "payment_orders", ["kind", "status", "finished_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_payment_orders_finished", table_name="payment_orders")
