"""Ledger: accounts, transfers, entries and remembered failures.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

_LIVE_HOLD = sa.text("status = 'pending' AND expires_at IS NOT NULL")


def _balances() -> list[sa.Column[int]]:
    return [
        sa.Column(name, sa.BigInteger, nullable=False)
        for name in ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
    ]


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metadata", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        *_balances(),
    )
    op.create_index("ix_ledger_accounts_owner_id", "ledger_accounts", ["owner_id"])
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("debit_account_id", sa.String(64), nullable=False),
        sa.Column("credit_account_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("flags", sa.Integer, nullable=False),
        sa.Column("pending_id", sa.String(64), nullable=True),
        sa.Column("timeout_s", sa.Integer, nullable=False),
        sa.Column("code", sa.Integer, nullable=False),
        sa.Column("metadata", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index(
        "ix_ledger_transfers_due",
        "ledger_transfers",
        ["expires_at"],
        postgresql_where=_LIVE_HOLD,
        sqlite_where=_LIVE_HOLD,
    )
    op.create_table(
        "ledger_entries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("side", sa.String(6), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        *_balances(),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_ledger_entries_account_seq", "ledger_entries", ["account_id", "seq"])
    op.create_table(
        "ledger_transfer_failures",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("result", sa.String(64), nullable=False),
        sa.Column("failed_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger_transfer_failures")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
