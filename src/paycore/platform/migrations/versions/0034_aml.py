"""AML: alerts, cases and their trail.

Placeholder, filled by its owner in this session.

Revision ID: 0034_aml
Revises: 0033_warehouse
Create Date: 2026-12-06
"""

revision = "0034_aml"
down_revision = "0033_warehouse"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
