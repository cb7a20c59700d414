"""Security: idempotent responses and webhook payloads sealed at rest.

Placeholder, filled by its owner in this session.

Revision ID: 0030_seal_copies
Revises: 0029_seal_order_details
Create Date: 2026-12-06
"""

revision = "0030_seal_copies"
down_revision = "0029_seal_order_details"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
