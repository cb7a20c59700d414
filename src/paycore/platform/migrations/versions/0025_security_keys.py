"""Security: key-encryption keys, data keys and data-subject keys (issue 15).

Revision ID: 0025_security_keys
Revises: 0024_finance
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import UTCDateTime

revision = "0025_security_keys"
down_revision = "0024_finance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_data_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("wrapped", sa.String(256), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("retired_at", UTCDateTime, nullable=True),
        sa.Column("destroyed_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "security_subject_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(128), nullable=True, unique=True),
        sa.Column("salt", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("shredded_at", UTCDateTime, nullable=True),
    )
    op.create_table(
        "security_reencrypt_progress",
        sa.Column("data_key_id", sa.String(64), nullable=False),
        sa.Column("column_name", sa.String(64), nullable=False),
        sa.Column("after_key", sa.String(256), nullable=True),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("values_moved", sa.Integer, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("data_key_id", "column_name"),
    )


def downgrade() -> None:
    op.drop_table("security_reencrypt_progress")
    op.drop_table("security_subject_keys")
    op.drop_table("security_data_keys")
