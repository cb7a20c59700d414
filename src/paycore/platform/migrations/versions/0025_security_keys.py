"""Security: key-encryption keys, data keys and data-subject keys (issue 15).

Revision ID: 0025_security_keys
Revises: 0024_finance
Create Date: 2026-12-06
"""

revision = "0025_security_keys"
down_revision = "0024_finance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
