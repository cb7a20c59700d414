"""Security: the clear C2 columns emptied by encrypt-backfill are dropped.

Placeholder, filled by its owner in this session.

Revision ID: 0032_drop_clear_c2
Revises: 0031_seal_audit_reason
Create Date: 2026-12-06
"""

revision = "0032_drop_clear_c2"
down_revision = "0031_seal_audit_reason"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
