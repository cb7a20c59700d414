"""The export's own tables (watermarks, runs) and how far the journal may safely be read.

The rows exported come from the slices' tables through `store_sources.py`; this module
only speaks of the export's bookkeeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    func,
    select,
    text,
    update,
)

from paycore.custody.store import receipts
from paycore.ledger.store import entries
from paycore.payments.store import orders
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata
from paycore.recon.store import breaks
from paycore.split.store import splits

watermarks = Table(
    "warehouse_watermarks",
    metadata,
    Column("table_name", String(64), primary_key=True),
    # A journal seq (ledger tables) or an updated-at instant (the others): the export holds
    # every change up to it.
    Column("position_seq", BigInteger, nullable=True),
    Column("position_at", UTCDateTime, nullable=True),
    Column("schema_version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

runs = Table(
    "warehouse_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("table_name", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # running | done
    Column("from_seq", BigInteger, nullable=True),
    Column("to_seq", BigInteger, nullable=True),
    Column("from_at", UTCDateTime, nullable=True),
    Column("to_at", UTCDateTime, nullable=True),
    Column("rows", BigInteger, nullable=False),
    Column("files", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_warehouse_runs_table", "table_name", "started_at"),
)

# The slices' changing tables are read by updated-at range every few minutes: indexed
# here (migration 0033), where the reason for them lives.
for _table, _name in (
    (orders, "ix_payment_orders_updated"),
    (breaks, "ix_recon_breaks_updated"),
    (receipts, "ix_custody_receipts_updated"),
    (splits, "ix_split_splits_updated"),
):
    Index(_name, _table.c.updated_at)

RUNNING = "running"
DONE = "done"


@dataclass(frozen=True, slots=True)
class Watermark:
    table: str
    position_seq: int | None
    position_at: datetime | None
    schema_version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    table: str
    status: str
    from_seq: int | None
    to_seq: int | None
    from_at: datetime | None
    to_at: datetime | None
    rows: int
    files: int
    started_at: datetime
    finished_at: datetime | None


def watermark(conn: Connection, table: str) -> Watermark | None:
    row = conn.execute(select(watermarks).where(watermarks.c.table_name == table)).first()
    if row is None:
        return None
    return Watermark(
        row.table_name, row.position_seq, row.position_at, row.schema_version, row.updated_at
    )


def save_watermark(
    conn: Connection,
    table: str,
    *,
    position_seq: int | None,
    position_at: datetime | None,
    schema_version: int,
    now: datetime,
) -> None:
    values: dict[str, Any] = {
        "position_seq": position_seq,
        "position_at": position_at,
        "schema_version": schema_version,
        "updated_at": now,
    }
    changed = conn.execute(
        update(watermarks).where(watermarks.c.table_name == table).values(**values)
    ).rowcount
    if not changed:
        conn.execute(watermarks.insert().values(table_name=table, **values))


def _run(row: Any) -> Run:
    return Run(
        row.id,
        row.table_name,
        row.status,
        row.from_seq,
        row.to_seq,
        row.from_at,
        row.to_at,
        row.rows,
        row.files,
        row.started_at,
        row.finished_at,
    )


def open_run(conn: Connection, table: str) -> Run | None:
    """The table's run that started and never finished (a crash), if any."""
    query = select(runs).where(runs.c.table_name == table, runs.c.status == RUNNING)
    row = conn.execute(query.order_by(runs.c.started_at.desc()).limit(1)).first()
    return None if row is None else _run(row)


def last_run(conn: Connection, table: str) -> Run | None:
    query = select(runs).where(runs.c.table_name == table)
    row = conn.execute(query.order_by(runs.c.started_at.desc()).limit(1)).first()
    return None if row is None else _run(row)


def insert_run(conn: Connection, run: Run) -> None:
    conn.execute(
        runs.insert().values(
            id=run.id,
            table_name=run.table,
            status=run.status,
            from_seq=run.from_seq,
            to_seq=run.to_seq,
            from_at=run.from_at,
            to_at=run.to_at,
            rows=run.rows,
            files=run.files,
            started_at=run.started_at,
            finished_at=None,
        )
    )


def finish_run(conn: Connection, run_id: str, *, rows: int, files: int, now: datetime) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(status=DONE, rows=rows, files=files, finished_at=now)
    )


# -- the journal's safe end --------------------------------------------------------------


def journal_end(conn: Connection) -> int:
    """The highest seq the journal shows now (0 when empty)."""
    return int(conn.execute(select(func.coalesce(func.max(entries.c.seq), 0))).scalar_one())


def first_seq_at_or_after(conn: Connection, *, after: int, upto: int, at: datetime) -> int | None:
    """The first seq in (after, upto] stamped at or after `at` (read by primary key)."""
    found = conn.execute(
        select(entries.c.seq)
        .where(entries.c.seq > after, entries.c.seq <= upto, entries.c.created_at >= at)
        .order_by(entries.c.seq)
        .limit(1)
    ).scalar()
    return None if found is None else int(found)


_WRITERS = text(
    "SELECT pid, backend_xid::text AS xid FROM pg_stat_activity"
    " WHERE datname = current_database() AND backend_xid IS NOT NULL"
    " AND pid <> pg_backend_pid()"
)


def _writers(conn: Connection) -> set[tuple[int, str]]:
    # pg_stat_activity is read once per transaction: each look starts a new one.
    conn.rollback()
    return {(int(row.pid), str(row.xid)) for row in conn.execute(_WRITERS)}


def settled_journal_end(conn: Connection, *, wait_s: float) -> int | None:
    """A seq below which no entry can still appear: the journal's end once every
    transaction that was writing to this database when it was read has ended. None if
    they did not end within `wait_s` (a long transaction): nothing new this time.

    On PostgreSQL seqs come from a sequence at insert time and commits land in any order,
    so entry 10 can become visible after entry 11: reading up to the visible maximum would
    skip 10 for ever. An entry below that maximum that is not visible yet belongs to a
    transaction that already writes (it took its seq inserting), so it is among this
    database's writers listed right after the maximum was read; once those are gone it
    has committed or rolled back. (Only this database's: a long write elsewhere on the
    server does not hold the export back. The role must see the other sessions of its
    own database in pg_stat_activity, as it does for its own role.) SQLite has one writer
    at a time: what it shows is final.
    """
    end = journal_end(conn)
    if conn.dialect.name != "postgresql":
        return end
    waiting = _writers(conn)
    deadline = time.monotonic() + wait_s
    while waiting:
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
        waiting &= _writers(conn)
    return end


def oldest_write_started(conn: Connection) -> datetime | None:
    """When the oldest transaction still writing to this database began (PostgreSQL), or
    None. A row it stamped may commit long after its stamp (a big reconciliation run):
    an updated-at window must not pass that moment before the transaction ends."""
    if conn.dialect.name != "postgresql":
        return None
    found: datetime | None = conn.execute(
        text(
            "SELECT min(xact_start) FROM pg_stat_activity"
            " WHERE backend_xid IS NOT NULL AND datname = current_database()"
        )
    ).scalar()
    return found
