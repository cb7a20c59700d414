"""Ops: probes, SLI counts per minute and burn-rate alerts (issue 14).

Revision ID: 0022_ops_slo
Revises: 0021_bills_exports
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import UTCDateTime

revision = "0022_ops_slo"
down_revision = "0021_bills_exports"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "ops_probes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.String(256), nullable=False),
        sa.Column("probed_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_ops_probes_target_at", "ops_probes", ["target", "probed_at"])
    op.create_index("ix_ops_probes_at", "ops_probes", ["probed_at"])
    op.create_table(
        "ops_sli_minutes",
        sa.Column("sli", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("minute_at", UTCDateTime, nullable=False),
        sa.Column("good", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("sli", "node", "minute_at", name="pk_ops_sli_minutes"),
    )
    op.create_index("ix_ops_sli_minutes_at", "ops_sli_minutes", ["minute_at"])
    op.create_table(
        "ops_alerts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("slo", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("window", sa.String(16), nullable=False),
        sa.Column("burn_rate_long_ppm", sa.BigInteger, nullable=False),
        sa.Column("burn_rate_short_ppm", sa.BigInteger, nullable=False),
        sa.Column("firing", sa.Boolean, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("evaluated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_ops_alerts_slo_window", "ops_alerts", ["slo", "window", "started_at"])


def downgrade() -> None:
    op.drop_table("ops_alerts")
    op.drop_table("ops_sli_minutes")
    op.drop_table("ops_probes")
