"""Tables and SQL of AML cases (migration 0034_aml): alerts, cases, their trail, STR drafts.

Concurrency: a change is `UPDATE ... WHERE id = ? AND version = ?`; the loser of two
writers holding the same version updates no row (`bump` returns False). The trail's key
(case_id, seq = the new version) would refuse a second event of that version anyway.
One active case per subject: the partial unique index makes a second insert fail.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)

from paycore.platform.db import WRITER, JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

_ACTIVE = "status IN ('open', 'investigating')"

cases = Table(
    "aml_cases",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subject_type", String(16), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("score", Integer, nullable=False),
    Column("typologies", JSONDocument, nullable=False),
    # [{rule, typology, words_zh, words_en, weight, transaction_ids, transaction_count, period}]
    Column("reasons", JSONDocument, nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("assignee", String(64), nullable=True),
    Column("version", Integer, nullable=False),
    # The dismissed or reported case of the same subject this one follows, if any.
    Column("previous_case_id", String(64), nullable=True),
)
Index("ix_aml_cases_status", cases.c.status, cases.c.opened_at, cases.c.id)
Index("ix_aml_cases_subject", cases.c.subject_type, cases.c.subject_id, cases.c.opened_at)
Index(
    "ux_aml_cases_active_subject",
    cases.c.subject_type,
    cases.c.subject_id,
    unique=True,
    postgresql_where=text(_ACTIVE),
    sqlite_where=text(_ACTIVE),
)

case_events = Table(
    "aml_case_events",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    # Not personal: period, score, typologies, assignee, draft number.
    Column("details", JSONDocument, nullable=False),
    Column("note_enc", Text, nullable=True),
)

alerts = Table(
    "aml_alerts",
    metadata,
    Column("subject_type", String(16), primary_key=True),
    Column("subject_id", String(128), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("score", Integer, nullable=False),
    Column("typologies", JSONDocument, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("case_id", String(64), nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
)
Index("ix_aml_alerts_case", alerts.c.case_id)

str_drafts = Table(
    "aml_str_drafts",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("draft_no", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("document_enc", Text, nullable=False),
)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite: writers queue, never deadlock)."""
    with engine.connect().execution_options(**WRITER) as conn, conn.begin():
        yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        yield conn


# -- cases --------------------------------------------------------------------------------


def insert_case(conn: Connection, values: Mapping[str, Any]) -> None:
    """Raises IntegrityError when the subject already has an active case."""
    conn.execute(insert(cases).values(**values))


def get_case(conn: Connection, case_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(cases).where(cases.c.id == case_id)).first()
    return dict(row._mapping) if row else None


def latest_case(conn: Connection, subject_type: str, subject_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(cases)
        .where(cases.c.subject_type == subject_type, cases.c.subject_id == subject_id)
        .order_by(cases.c.opened_at.desc(), cases.c.id.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row else None


def bump(conn: Connection, case_id: str, *, version: int, values: Mapping[str, Any]) -> bool:
    """Apply `values` and version + 1 if the case is still at `version`."""
    result = conn.execute(
        update(cases)
        .where(cases.c.id == case_id, cases.c.version == version)
        .values(version=version + 1, **values)
    )
    return result.rowcount == 1


def list_cases(
    conn: Connection,
    *,
    status: str | None,
    subject_id: str | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first by id (ids are time-ordered); `after` is the last id of the page before."""
    query = select(cases)
    if status is not None:
        query = query.where(cases.c.status == status)
    if subject_id is not None:
        query = query.where(cases.c.subject_id == subject_id)
    if after is not None:
        query = query.where(cases.c.id < after)
    query = query.order_by(cases.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


# -- the trail ------------------------------------------------------------------------------


def append_event(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(case_events).values(**values))


def events_of(conn: Connection, case_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(case_events).where(case_events.c.case_id == case_id).order_by(case_events.c.seq)
    )
    return [dict(row._mapping) for row in rows]


# -- alerts ---------------------------------------------------------------------------------


def get_alert(
    conn: Connection, subject_type: str, subject_id: str, period: str
) -> dict[str, Any] | None:
    row = conn.execute(
        select(alerts).where(
            alerts.c.subject_type == subject_type,
            alerts.c.subject_id == subject_id,
            alerts.c.period == period,
        )
    ).first()
    return dict(row._mapping) if row else None


def save_alert(conn: Connection, values: Mapping[str, Any], *, exists: bool) -> None:
    if not exists:
        conn.execute(insert(alerts).values(**values))
        return
    keys = ("subject_type", "subject_id", "period")
    conn.execute(
        update(alerts)
        .where(*(alerts.c[k] == values[k] for k in keys))
        .values(**{k: v for k, v in values.items() if k not in keys})
    )


def periods_of(conn: Connection, case_id: str) -> frozenset[str]:
    rows = conn.execute(select(alerts.c.period).where(alerts.c.case_id == case_id))
    return frozenset(str(row[0]) for row in rows)


# -- STR drafts -----------------------------------------------------------------------------


def last_draft_no(conn: Connection, case_id: str) -> int:
    found = conn.execute(
        select(func.max(str_drafts.c.draft_no)).where(str_drafts.c.case_id == case_id)
    ).scalar()
    return int(found or 0)


def insert_draft(
    conn: Connection, *, case_id: str, draft_no: int, at: datetime, actor: str, sealed: str
) -> None:
    conn.execute(
        insert(str_drafts).values(
            case_id=case_id, draft_no=draft_no, created_at=at, actor=actor, document_enc=sealed
        )
    )


def latest_draft(conn: Connection, case_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(str_drafts)
        .where(str_drafts.c.case_id == case_id)
        .order_by(str_drafts.c.draft_no.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row else None
