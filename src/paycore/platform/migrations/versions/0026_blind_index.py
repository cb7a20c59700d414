"""Security: the blind index of personal numbers (issue 15).

Revision ID: 0026_blind_index
Revises: 0025_security_keys
Create Date: 2026-12-06
"""

revision = "0026_blind_index"
down_revision = "0025_security_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
