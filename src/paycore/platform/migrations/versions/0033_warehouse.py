"""Warehouse: export watermarks and runs.

Placeholder, filled by its owner in this session.

Revision ID: 0033_warehouse
Revises: 0032_drop_clear_c2
Create Date: 2026-12-06
"""

revision = "0033_warehouse"
down_revision = "0032_drop_clear_c2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
