"""Tables and SQL of incidents: one row per incident (deduplicated by its signal key while
open), its timeline, and the heartbeats of every worker of every node, from which a hung
node shows (migration 0023_ops_incidents)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

incidents = Table(
    "ops_incidents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("source", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    # open | resolved | reviewed
    Column("status", String(16), nullable=False),
    Column("summary", String(256), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_fired_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    # Impact as JSON: the model's Impact, amounts as integers of minor units.
    Column("impact", JSONDocument, nullable=False),
    Column("auto_grade", String(1), nullable=False),
    Column("grade", String(1), nullable=True),
    Column("cause", Text, nullable=False),
    Column("handling", Text, nullable=False),
    Column("review_notes", Text, nullable=False),
    Column("reviewed_at", UTCDateTime, nullable=True),
    Column("reviewed_by", String(64), nullable=True),
)
Index("ix_ops_incidents_key_status", incidents.c.key, incidents.c.status)
Index("ix_ops_incidents_opened", incidents.c.opened_at)

incident_events = Table(
    "ops_incident_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("incident_id", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
)
Index("ix_ops_incident_events_incident", incident_events.c.incident_id, incident_events.c.id)

heartbeats = Table(
    "ops_heartbeats",
    metadata,
    Column("node", String(64), nullable=False),
    Column("worker", String(64), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("beat_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    # Times this worker started on this node within the crash-loop window (a bad deploy).
    Column("restarts", Integer, nullable=False),
    Column("last_error", String(256), nullable=False),
    PrimaryKeyConstraint("node", "worker", name="pk_ops_heartbeats"),
)
