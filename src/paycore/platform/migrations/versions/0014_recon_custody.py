"""Statement lines name the account they are about and (sealed) their counterparty, so
money that reached a custody virtual account with no order can be refunded to its payer;
custody receipts may come from a statement line instead of a pay-in.

Revision ID: 0014_recon_custody
Revises: 0013_ledger_checks
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_recon_custody"
down_revision = "0013_ledger_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("recon_lines", sa.Column("account", sa.String(34), nullable=True))
    op.add_column("recon_lines", sa.Column("counterparty_enc", sa.Text, nullable=True))
    op.add_column(
        "custody_receipts",
        sa.Column("origin", sa.String(16), nullable=False, server_default="payin"),
    )
    op.add_column("custody_receipts", sa.Column("payer_enc", sa.Text, nullable=True))
    op.add_column("custody_receipts", sa.Column("source_account", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("custody_receipts") as batch:
        batch.drop_column("source_account")
        batch.drop_column("payer_enc")
        batch.drop_column("origin")
    with op.batch_alter_table("recon_lines") as batch:
        batch.drop_column("counterparty_enc")
        batch.drop_column("account")
