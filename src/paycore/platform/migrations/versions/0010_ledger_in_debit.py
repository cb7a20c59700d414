"""A small partial index of accounts whose debits exceed their credits (users' debts).

Revision ID: 0010_ledger_in_debit
Revises: 0009_rewards
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_ledger_in_debit"
down_revision = "0009_rewards"
branch_labels = None
depends_on = None

_IN_DEBIT = sa.text("debits_posted > credits_posted")


def upgrade() -> None:
    op.create_index(
        "ix_ledger_accounts_in_debit",
        "ledger_accounts",
        ["code", "id"],
        postgresql_where=_IN_DEBIT,
        sqlite_where=_IN_DEBIT,
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_accounts_in_debit", table_name="ledger_accounts")
