"""Platform refunds and payouts are tried again until paid or handed to a person
(issue 10): the custody cut-off's receipts and the refunds after split count the refund
orders that failed without reaching the bank, to key the next one.

Revision ID: 0018_flow_retries
Revises: 0017_camt_statements
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_flow_retries"
down_revision = "0017_camt_statements"
branch_labels = None
depends_on = None


_TABLES = ("custody_receipts", "split_refunds")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(
            table, sa.Column("refund_attempt", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("refund_attempt")
