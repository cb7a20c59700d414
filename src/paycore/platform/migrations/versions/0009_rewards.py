"""Tables of the rewards slice.

Revision ID: 0009_rewards
Revises: 0008_collection
Create Date: 2026-11-25
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from paycore.platform.db import JSONDocument, UTCDateTime  # noqa: F401

revision = "0009_rewards"
down_revision = "0008_collection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
