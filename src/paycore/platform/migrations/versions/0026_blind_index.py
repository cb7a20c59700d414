"""Security: the blind index of personal numbers (issue 15).

Revision ID: 0026_blind_index
Revises: 0025_security_keys
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import UTCDateTime

revision = "0026_blind_index"
down_revision = "0025_security_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_blind_index",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token", sa.String(96), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(160), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint(
            "kind", "token", "object_type", "object_id", name="pk_security_blind_index"
        ),
    )
    op.create_index(
        "ix_security_blind_index_object", "security_blind_index", ["object_type", "object_id"]
    )
    op.create_table(
        "security_blind_backfill",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("after_key", sa.String(240), nullable=False),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("source", "key_id", name="pk_security_blind_backfill"),
    )


def downgrade() -> None:
    op.drop_table("security_blind_backfill")
    op.drop_index("ix_security_blind_index_object", table_name="security_blind_index")
    op.drop_table("security_blind_index")
