"""Security: audit log reasons sealed at rest.

Placeholder, filled by its owner in this session.

Revision ID: 0031_seal_audit_reason
Revises: 0030_seal_copies
Create Date: 2026-12-06
"""

revision = "0031_seal_audit_reason"
down_revision = "0030_seal_copies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
