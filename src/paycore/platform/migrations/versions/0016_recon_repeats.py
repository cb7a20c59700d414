"""How many lines of an import repeated a line an earlier import of the source already
holds (an end-of-day statement after the intraday one): kept once, counted here.

Revision ID: 0016_recon_repeats
Revises: 0015_recon_judged
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_recon_repeats"
down_revision = "0015_recon_judged"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "recon_imports",
        sa.Column("repeated_lines", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("recon_imports") as batch:
        batch.drop_column("repeated_lines")
