"""The history of ledger self-checks.

Revision ID: 0013_ledger_checks
Revises: 0012_recon_h2h
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0013_ledger_checks"
down_revision = "0012_recon_h2h"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_check_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("accounts_checked", sa.Integer, nullable=False),
        sa.Column("problems", JSONDocument, nullable=False),
        sa.Column("totals", JSONDocument, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
    )
    op.create_index("ix_ledger_check_runs_started_at", "ledger_check_runs", ["started_at"])


def downgrade() -> None:
    op.drop_table("ledger_check_runs")
