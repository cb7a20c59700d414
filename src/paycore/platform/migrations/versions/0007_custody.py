"""Tables of the custody slice.

Revision ID: 0007_custody
Revises: 0006_split
Create Date: 2026-11-25
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from paycore.platform.db import JSONDocument, UTCDateTime  # noqa: F401

revision = "0007_custody"
down_revision = "0006_split"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
