"""Tables of the collection slice.

Revision ID: 0008_collection
Revises: 0007_custody
Create Date: 2026-11-25
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from paycore.platform.db import JSONDocument, UTCDateTime  # noqa: F401

revision = "0008_collection"
down_revision = "0007_custody"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
