"""Bills: export jobs, and the index that pages a merchant's orders by time (issue 13).

`bills_export_jobs` holds large exports run in the background: queued by a request,
leased by one worker at a time (a crashed worker's lease runs out and another resumes the
job), with progress and the file written under data_dir/exports/.
`ix_payment_orders_merchant_created` lets a bill query page a merchant's orders by
(created_at, id) for one month without reading its other months.

Revision ID: 0021_bills_exports
Revises: 0020_bills
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0021_bills_exports"
down_revision = "0020_bills"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bills_export_jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("request_key", sa.String(128), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("what", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("filters", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_total", sa.BigInteger, nullable=True),
        sa.Column("rows_done", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_id", sa.String(32), nullable=True),
        sa.Column("leased_until", UTCDateTime, nullable=True),
        sa.Column("file_name", sa.String(128), nullable=True),
        sa.Column("file_bytes", sa.BigInteger, nullable=True),
        sa.Column("error", sa.String(256), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("merchant_id", "request_key", name="ux_bills_export_jobs_request"),
    )
    op.create_index("ix_bills_export_jobs_status", "bills_export_jobs", ["status", "created_at"])
    op.create_index(
        "ix_payment_orders_merchant_created",
        "payment_orders",
        ["merchant_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_payment_orders_merchant_created", table_name="payment_orders")
    op.drop_index("ix_bills_export_jobs_status", table_name="bills_export_jobs")
    op.drop_table("bills_export_jobs")
