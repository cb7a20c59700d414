"""Security: the hash-chained audit log of reveals (issue 15).

Revision ID: 0027_audit_log
Revises: 0026_blind_index
Create Date: 2026-12-06
"""

revision = "0027_audit_log"
down_revision = "0026_blind_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
