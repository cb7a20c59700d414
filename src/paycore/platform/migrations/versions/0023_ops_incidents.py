"""Ops: incidents, their timelines, and worker heartbeats (issue 14).

Revision ID: 0023_ops_incidents
Revises: 0022_ops_slo
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from paycore.platform.db import JSONDocument, UTCDateTime

revision = "0023_ops_incidents"
down_revision = "0022_ops_slo"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "ops_incidents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(256), nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("last_fired_at", UTCDateTime, nullable=False),
        sa.Column("cleared_at", UTCDateTime, nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("impact", JSONDocument, nullable=False),
        sa.Column("auto_grade", sa.String(1), nullable=False),
        sa.Column("grade", sa.String(1), nullable=True),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("handling", sa.Text, nullable=False),
        sa.Column("review_notes", sa.Text, nullable=False),
        sa.Column("reviewed_at", UTCDateTime, nullable=True),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_ops_incidents_key_status", "ops_incidents", ["key", "status"])
    op.create_index("ix_ops_incidents_opened", "ops_incidents", ["opened_at"])
    # One open incident per key, however many processes run the same tick.
    op.create_index(
        "ux_ops_incidents_open_key",
        "ops_incidents",
        ["key"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
        sqlite_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "ops_incident_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_ops_incident_events_incident", "ops_incident_events", ["incident_id", "id"])
    op.create_table(
        "ops_heartbeats",
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("beat_at", UTCDateTime, nullable=False),
        sa.Column("interval_ms", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("restarts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("node", "worker", name="pk_ops_heartbeats"),
    )


def downgrade() -> None:
    op.drop_table("ops_heartbeats")
    op.drop_table("ops_incident_events")
    op.drop_table("ops_incidents")
