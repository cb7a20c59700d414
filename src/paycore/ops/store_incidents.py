"""Tables and SQL of incidents: one row per incident (deduplicated by its signal key while
open), its timeline, and the heartbeats of every worker of every node, from which a hung
node shows (migration 0023_ops_incidents).

At most one incident per key is open, whatever number of server processes run the same
tick: a unique index over the key of open rows only (partial, on both databases) makes the
second insert fail, and its process then treats the key as already open.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    case,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from paycore.platform.db import WRITER, JSONDocument, UTCDateTime
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
    # The first tick that saw the key not firing since it last fired: the incident's end
    # once the clear delay has passed without it firing again.
    Column("cleared_at", UTCDateTime, nullable=True),
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
Index(
    "ux_ops_incidents_open_key",
    incidents.c.key,
    unique=True,
    postgresql_where=text("status = 'open'"),
    sqlite_where=text("status = 'open'"),
)

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
    # How long the worker said it would wait before its next iteration (-1: unbounded).
    Column("interval_ms", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    # Times this worker started on this node within the crash-loop window (a bad deploy).
    Column("restarts", Integer, nullable=False),
    Column("last_error", String(256), nullable=False),
    PrimaryKeyConstraint("node", "worker", name="pk_ops_heartbeats"),
)

OPEN = "open"


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite: writers queue, never deadlock)."""
    with engine.connect().execution_options(**WRITER) as conn, conn.begin():
        yield conn


# -- incidents ------------------------------------------------------------------------------


def insert_incident(conn: Connection, values: Mapping[str, Any]) -> None:
    """Raises IntegrityError when an incident with the same key is already open."""
    conn.execute(insert(incidents).values(**values))


def open_rows(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(incidents).where(incidents.c.status == OPEN))
    return [dict(row._mapping) for row in rows]


def mark_fired(conn: Connection, incident_id: str, *, at: datetime) -> None:
    conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id, incidents.c.status == OPEN)
        .values(last_fired_at=_later(at), cleared_at=None)
    )


def _later(at: datetime) -> Any:
    """last_fired_at never moves back (two processes' ticks may commit out of order)."""
    return case((incidents.c.last_fired_at > at, incidents.c.last_fired_at), else_=at)


def mark_cleared(conn: Connection, incident_id: str, *, at: datetime) -> None:
    conn.execute(
        update(incidents)
        .where(
            incidents.c.id == incident_id,
            incidents.c.status == OPEN,
            incidents.c.cleared_at.is_(None),
        )
        .values(cleared_at=at)
    )


def resolve(
    conn: Connection, incident_id: str, *, last_fired_at: datetime, values: Mapping[str, Any]
) -> bool:
    """Close the incident unless it fired again since `last_fired_at` was read, or another
    process closed it first: True only for the one caller that closed it."""
    result = conn.execute(
        update(incidents)
        .where(
            incidents.c.id == incident_id,
            incidents.c.status == OPEN,
            incidents.c.last_fired_at == last_fired_at,
        )
        .values(status="resolved", **values)
    )
    return result.rowcount == 1


def review(
    conn: Connection, incident_id: str, *, statuses: Sequence[str], values: Mapping[str, Any]
) -> bool:
    result = conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id, incidents.c.status.in_(list(statuses)))
        .values(**values)
    )
    return result.rowcount == 1


def get_row(conn: Connection, incident_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    return dict(row._mapping) if row else None


def list_rows(
    conn: Connection,
    *,
    opened_from: datetime | None,
    opened_to: datetime | None,
    status: str | None,
    grade: str | None,
    awaiting_review: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest opened first; `after` is the (opened_at, id) of the last row of the page before."""
    query = select(incidents)
    if opened_from is not None:
        query = query.where(incidents.c.opened_at >= opened_from)
    if opened_to is not None:
        query = query.where(incidents.c.opened_at < opened_to)
    if status is not None:
        query = query.where(incidents.c.status == status)
    if grade is not None:
        query = query.where(incidents.c.grade == grade)
    if awaiting_review:
        query = query.where(incidents.c.grade.is_(None))
    if after is not None:
        at, last_id = after
        query = query.where(
            (incidents.c.opened_at < at)
            | ((incidents.c.opened_at == at) & (incidents.c.id < last_id))
        )
    query = query.order_by(incidents.c.opened_at.desc(), incidents.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def add_event(conn: Connection, incident_id: str, *, at: datetime, kind: str, text: str) -> None:
    conn.execute(
        insert(incident_events).values(incident_id=incident_id, at=at, kind=kind, text=text)
    )


def events_of(conn: Connection, incident_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(incident_events)
        .where(incident_events.c.incident_id == incident_id)
        .order_by(incident_events.c.id)
    )
    return [dict(row._mapping) for row in rows]


def open_counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(kind, severity, open incidents) for /metrics."""
    rows = conn.execute(
        select(incidents.c.kind, incidents.c.severity, func.count())
        .where(incidents.c.status == OPEN)
        .group_by(incidents.c.kind, incidents.c.severity)
    )
    return [(row[0], row[1], int(row[2])) for row in rows]


def last_opened_at(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(select(func.max(incidents.c.opened_at))).scalar()
    return value


# -- heartbeats -----------------------------------------------------------------------------


def upsert_heartbeat(
    conn: Connection, values: Mapping[str, Any], *, changing: Sequence[str]
) -> None:
    """Insert the worker's row, or update only `changing` columns of the existing one."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(heartbeats).values(**values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[heartbeats.c.node, heartbeats.c.worker],
            set_={name: statement.excluded[name] for name in changing},
        )
    )


def heartbeat_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every worker of every node: a row per (node, worker), so a few hundred at most."""
    return [dict(row._mapping) for row in conn.execute(select(heartbeats))]


def forget_node(conn: Connection, node: str) -> None:
    conn.execute(delete(heartbeats).where(heartbeats.c.node == node))
