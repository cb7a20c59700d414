"""Bills: day rollups of the journal, closed days and sealed month statements (issue 13).

`bills_account_days` sums each owned account's movements per bill day and statement line;
`bills_day_balances` keeps its closing snapshot of each day it moved; a month's statement
reads these O(days) rows instead of every entry. `bills_closed_days` says which days are
rolled up and to which journal seq; `bills_statements` holds sealed months, never edited.
Two partial indexes on `ledger_transfers` hold only live holds, by debit and by credit
account: what a bill shows as "on hold, released when", without scanning the journal.

Revision ID: 0020_bills
Revises: 0019_ledger_ownership
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0020_bills"
down_revision = "0019_ledger_ownership"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bills_account_days",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("product", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("amount_in", sa.BigInteger, nullable=False),
        sa.Column("amount_out", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "day", "category", "product", "channel"),
    )
    op.create_table(
        "bills_day_balances",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("debits_pending", sa.BigInteger, nullable=False),
        sa.Column("debits_posted", sa.BigInteger, nullable=False),
        sa.Column("credits_pending", sa.BigInteger, nullable=False),
        sa.Column("credits_posted", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "day"),
    )
    op.create_table(
        "bills_closed_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("closed_at", UTCDateTime, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "bills_statements",
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("lines", JSONDocument, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("previous_hash", sa.String(64), nullable=True),
        sa.Column("sealed_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "month"),
    )

    for side in ("debit", "credit"):
        op.create_index(
            f"ix_bills_live_holds_{side}",
            "ledger_transfers",
            [f"{side}_account_id"],
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:
    for side in ("debit", "credit"):
        op.drop_index(f"ix_bills_live_holds_{side}", table_name="ledger_transfers")
    for table in ("bills_statements", "bills_closed_days", "bills_day_balances"):
        op.drop_table(table)
    op.drop_table("bills_account_days")
