"""The history of ledger self-checks: when each ran and what it found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Integer, String, Table, insert, select

from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

checks = Table(
    "ledger_check_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False, index=True),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("accounts_checked", Integer, nullable=False),
    Column("problems", JSONDocument, nullable=False),  # the first PROBLEMS_KEPT, as text
    Column("totals", JSONDocument, nullable=False),  # currency -> the four summed balances
    Column("trigger", String(16), nullable=False),  # schedule | command | http
)


def insert_check(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(checks).values(**values))


def recent_checks(conn: Connection, *, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(checks).order_by(checks.c.started_at.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


def last_started(conn: Connection) -> datetime | None:
    row = conn.execute(select(checks.c.started_at).order_by(checks.c.started_at.desc())).first()
    return row[0] if row else None
