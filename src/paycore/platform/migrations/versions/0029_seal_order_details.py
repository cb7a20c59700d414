"""Security: payment orders' description and metadata sealed at rest.

Placeholder, filled by its owner in this session.

Revision ID: 0029_seal_order_details
Revises: 0028_encrypt_c2
Create Date: 2026-12-06
"""

revision = "0029_seal_order_details"
down_revision = "0028_encrypt_c2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
