"""Tables of the split slice.

Revision ID: 0006_split
Revises: 0005_payments_finished
Create Date: 2026-11-25
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from paycore.platform.db import JSONDocument, UTCDateTime  # noqa: F401

revision = "0006_split"
down_revision = "0005_payments_finished"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
