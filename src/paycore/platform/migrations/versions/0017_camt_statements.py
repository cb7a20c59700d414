"""camt statements as banks send them (issue 10): warnings kept on an import, the bank's
kind and the counter-value of a line, a break's detail, and each statement's balances
(`recon_statements`) so the next statement of the account can be checked against them.

Revision ID: 0017_camt_statements
Revises: 0016_recon_repeats
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_camt_statements"
down_revision = "0016_recon_repeats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("recon_imports", sa.Column("warnings", sa.Text, nullable=True))
    op.add_column(
        "recon_imports",
        sa.Column("warning_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.add_column("recon_lines", sa.Column("bank_kind", sa.String(40), nullable=True))
    op.add_column("recon_lines", sa.Column("counter_amount", sa.BigInteger, nullable=True))
    op.add_column("recon_lines", sa.Column("counter_currency", sa.String(3), nullable=True))
    op.add_column("recon_breaks", sa.Column("detail", sa.String(500), nullable=True))
    op.create_table(
        "recon_statements",
        sa.Column("import_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("statement_id", sa.String(128), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("business_date", sa.Date, nullable=True),
        sa.Column("opening", sa.BigInteger, nullable=True),
        sa.Column("closing", sa.BigInteger, nullable=True),
        sa.Column("credits", sa.BigInteger, nullable=False),
        sa.Column("debits", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("import_id", "seq"),
    )
    op.create_index(
        "ix_recon_statements_account",
        "recon_statements",
        ["account", "currency", "business_date"],
    )


def downgrade() -> None:
    op.drop_index("ix_recon_statements_account", table_name="recon_statements")
    op.drop_table("recon_statements")
    with op.batch_alter_table("recon_breaks") as batch:
        batch.drop_column("detail")
    with op.batch_alter_table("recon_lines") as batch:
        batch.drop_column("counter_currency")
        batch.drop_column("counter_amount")
        batch.drop_column("bank_kind")
    with op.batch_alter_table("recon_imports") as batch:
        batch.drop_column("warning_count")
        batch.drop_column("warnings")
