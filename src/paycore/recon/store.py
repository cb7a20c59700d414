"""Imported statements, their lines, matching runs, breaks and the breaks' audit trail.

Matching is set-based SQL (see store_matching.py); this module declares the tables and the
small per-row statements the service needs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from paycore.payments.store import orders
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata
from paycore.recon.model import day_start

imports = Table(
    "recon_imports",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("file_sha256", String(64), nullable=False, unique=True),
    Column("format", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("statement_id", String(128), nullable=False),
    Column("line_count", Integer, nullable=False),
    # Lines identical to one an earlier import of the source holds: not stored again.
    Column("repeated_lines", Integer, nullable=False, server_default="0"),
    Column("credits", BigInteger, nullable=False),
    Column("debits", BigInteger, nullable=False),
    Column("period_start", Date, nullable=True),
    Column("period_end", Date, nullable=True),
    Column("imported_at", UTCDateTime, nullable=False),
    # Deviations from the format that touch no money (camt_schema.py): the first hundred
    # as a JSON list of texts, and how many there were.
    Column("warnings", Text, nullable=True),
    Column("warning_count", Integer, nullable=False, server_default="0"),
)

lines = Table(
    "recon_lines",
    metadata,
    Column("import_id", String(64), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("source", String(64), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("source_ref", String(128), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # NULL when the format carries no fee: only a fee the channel states can mismatch.
    Column("fee", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("channel_txn_id", String(128), nullable=True),
    Column("reference", String(128), nullable=True),
    Column("booked_at", UTCDateTime, nullable=False),
    # A later line with a source_ref (or an order) already seen: reported, never matched.
    Column("duplicate", Boolean, nullable=False),
    Column("order_id", String(64), nullable=True),
    Column("matched_by", String(16), nullable=True),
    # The payer or payee (account number, name): personal data, sealed by the field cipher.
    Column("counterparty_enc", Text, nullable=True),
    # What the bank calls the movement (camt's bank transaction code), as written.
    Column("bank_kind", String(40), nullable=True),
    # The movement in another currency (camt's instructed amount): kept, never summed.
    Column("counter_amount", BigInteger, nullable=True),
    Column("counter_currency", String(3), nullable=True),
    # Our account the line is about (a custody virtual account: one buyer's), when the
    # format says: a FieldCipher token, context recon-line-account:<import>:<line>.
    Column("account_enc", Text, nullable=True),
    PrimaryKeyConstraint("import_id", "line_no"),
    Index("ix_recon_lines_day", "source", "business_date"),
    Index("ix_recon_lines_ref", "source", "source_ref"),
    Index("ix_recon_lines_order", "order_id"),
)

runs = Table(
    "recon_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("waiting", Integer, nullable=False),
    Column("breaks_new", Integer, nullable=False),
    Column("auto_resolved", Integer, nullable=False),
    Column("queried_back", Integer, nullable=False),
    # The last business day whose orders this run judged (short of a line = 短款): the
    # next run of the source judges every day after the latest of these.
    Column("judged_through", Date, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Index("ix_recon_runs_day", "source", "business_date"),
)

breaks = Table(
    "recon_breaks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # What the break is about (type + line or order): a re-run finds it, never adds it twice.
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("type", String(24), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("import_id", String(64), nullable=True),
    Column("line_no", Integer, nullable=True),
    Column("order_id", String(64), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("line_amount", BigInteger, nullable=True),
    Column("order_amount", BigInteger, nullable=True),
    Column("line_status", String(16), nullable=True),
    Column("order_status", String(16), nullable=True),
    Column("line_fee", BigInteger, nullable=True),
    Column("order_fee", BigInteger, nullable=True),
    Column("direction", String(8), nullable=True),
    Column("run_id", String(64), nullable=False),
    Column("suspense_transfer_id", String(64), nullable=True),
    Column("adjustment_transfer_id", String(64), nullable=True),
    Column("adjustment_attempts", Integer, nullable=False),
    Column("note", String(1000), nullable=True),
    # What a break about a whole statement found (store_statements.py), in words.
    Column("detail", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_recon_breaks_status", "status", "type", "id"),
    Index("ix_recon_breaks_day", "source", "business_date", "type"),
)

break_events = Table(
    "recon_break_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("break_id", Integer, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("note", String(1000), nullable=False),
    Column("transfer_id", String(64), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_recon_break_events_break", "break_id", "id"),
)

statements = Table(
    "recon_statements",
    metadata,
    # Each statement of an imported file with its balances (camt.053): a later
    # statement of the account must open where this one closed.
    Column("import_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),  # its place in the file, from 1
    Column("source", String(64), nullable=False),
    Column("statement_id", String(128), nullable=False),
    Column("account", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("business_date", Date, nullable=True),  # the day its closing balance is of
    Column("opening", BigInteger, nullable=True),  # minor units, signed
    Column("closing", BigInteger, nullable=True),
    Column("credits", BigInteger, nullable=False),  # booked entries
    Column("debits", BigInteger, nullable=False),
    PrimaryKeyConstraint("import_id", "seq"),
    Index("ix_recon_statements_account", "account", "currency", "business_date"),
)

# Matching looks orders up by the channel's transaction id, a column payments never
# searches by itself: without this index each statement line would scan every order.
Index("ix_payment_orders_channel_txn", orders.c.channel, orders.c.channel_txn_id)


# -- imports ----------------------------------------------------------------------------


def import_by_hash(conn: Connection, file_sha256: str) -> dict[str, Any] | None:
    row = conn.execute(select(imports).where(imports.c.file_sha256 == file_sha256)).first()
    return dict(row._mapping) if row else None


def get_import(conn: Connection, import_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(imports).where(imports.c.id == import_id)).first()
    return dict(row._mapping) if row else None


def insert_import(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(imports), row)


def orders_by_txn(conn: Connection, *, channel: str, txn_ids: Collection[str]) -> dict[str, str]:
    """Order id by channel transaction id, for those of `txn_ids` that `channel` knows;
    the lowest order id if two orders share one."""
    if not txn_ids:
        return {}
    # One parameter holding every id (an array; a JSON array on SQLite): binding and
    # compiling thousands of IN parameters per chunk cost about as much as the lookups.
    if conn.dialect.name == "postgresql":
        txns = bindparam("txn_ids", list(txn_ids), type_=postgresql.ARRAY(String))
        wanted = orders.c.channel_txn_id == any_(txns)
    else:
        ids_json = func.json_each(bindparam("txn_ids", json.dumps(list(txn_ids))))
        wanted = orders.c.channel_txn_id.in_(select(ids_json.table_valued("value").c.value))
    rows = conn.execute(
        select(orders.c.channel_txn_id, orders.c.id)
        .where(orders.c.channel == channel, wanted)
        .order_by(orders.c.id.desc())
    ).all()
    return {str(txn): str(order_id) for txn, order_id in rows}


def refresh_statistics(conn: Connection) -> None:
    """After a big import PostgreSQL's planner still thinks recon_lines is small and
    would pick nested loops for the matching joins; ANALYZE samples, so it is cheap."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE recon_lines")


def lock_imports_of(conn: Connection, *, source: str) -> None:
    """Serialise the imports of one source until the transaction ends, on PostgreSQL:
    otherwise two imports committing at the same moment each miss the other's
    uncommitted lines and neither flags the line they share. SQLite has one writer."""
    if conn.dialect.name != "postgresql":
        return
    # A stable 64-bit key (Python's hash() differs between processes), in a namespace
    # of its own so it cannot collide with another feature's advisory locks.
    digest = hashlib.blake2b(f"recon_import:{source}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    conn.execute(select(func.pg_advisory_xact_lock(key)))


def drop_repeats(conn: Connection, *, import_id: str, source: str) -> int:
    """Delete the new import's lines that an earlier import of the source already holds,
    identical (same id at the source, kind, direction, amount, currency and status): the
    day's final statement repeats the intraday one, and a line seen twice is one movement,
    not a duplicate. A line that differs in any of those stays and is flagged below."""
    earlier = lines.alias("earlier")
    same = (
        select(earlier.c.line_no)
        .where(
            earlier.c.source == source,
            earlier.c.source_ref == lines.c.source_ref,
            earlier.c.import_id != import_id,
            earlier.c.kind == lines.c.kind,
            earlier.c.direction == lines.c.direction,
            earlier.c.amount == lines.c.amount,
            earlier.c.currency == lines.c.currency,
            earlier.c.status == lines.c.status,
        )
        .exists()
    )
    result = conn.execute(delete(lines).where(lines.c.import_id == import_id, same))
    return result.rowcount or 0


def mark_duplicates(conn: Connection, *, import_id: str, source: str) -> int:
    """Flag the lines of a new import whose source_ref was seen before: in an earlier
    import of the same source, or earlier in this file."""
    earlier = lines.alias("earlier")
    seen = (
        select(earlier.c.line_no)
        .where(
            earlier.c.source == source,
            earlier.c.source_ref == lines.c.source_ref,
            (earlier.c.import_id != import_id) | (earlier.c.line_no < lines.c.line_no),
        )
        .exists()
    )
    result = conn.execute(
        update(lines)
        .where(lines.c.import_id == import_id, seen)
        # Never matched (store_matching.match_by_txn matched it as it was stored).
        .values(duplicate=True, order_id=None, matched_by=None)
    )
    return result.rowcount or 0


def business_days_of(conn: Connection, import_id: str, *, limit: int) -> list[date]:
    """The business days an import's lines fall on, oldest first."""
    query = (
        select(lines.c.business_date)
        .where(lines.c.import_id == import_id)
        .distinct()
        .order_by(lines.c.business_date)
        .limit(limit)
    )
    return [row[0] for row in conn.execute(query)]


# -- runs -------------------------------------------------------------------------------


def insert_run(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(runs), row)


def get_run(conn: Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return dict(row._mapping) if row else None


def last_judged_day(conn: Connection, *, source: str) -> date | None:
    """The latest business day any run of `source` judged the orders of; None before the
    first run."""
    day: date | None = conn.execute(
        select(func.max(runs.c.judged_through)).where(runs.c.source == source)
    ).scalar_one()
    return day


def has_closing_run(conn: Connection, *, source: str, business_date: date) -> bool:
    """Whether the day was run after it ended: a run of "today so far" (an intraday file,
    a demo) does not close it."""
    found = conn.execute(
        select(runs.c.id).where(
            runs.c.source == source,
            runs.c.business_date == business_date,
            runs.c.started_at >= day_start(business_date + timedelta(days=1)),
        )
    ).first()
    return found is not None


# -- breaks -----------------------------------------------------------------------------


def get_break(conn: Connection, break_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(breaks).where(breaks.c.id == break_id)).first()
    return dict(row._mapping) if row else None


def list_breaks(
    conn: Connection,
    *,
    status: str | None,
    type_: str | None,
    source: str | None,
    limit: int,
    after: int | None,
) -> list[dict[str, Any]]:
    query = select(breaks)
    if status is not None:
        query = query.where(breaks.c.status == status)
    if type_ is not None:
        query = query.where(breaks.c.type == type_)
    if source is not None:
        query = query.where(breaks.c.source == source)
    if after is not None:
        query = query.where(breaks.c.id > after)
    rows = conn.execute(query.order_by(breaks.c.id).limit(limit))
    return [dict(r._mapping) for r in rows]


def count_breaks(conn: Connection, *, run_id: str) -> dict[str, int]:
    rows = conn.execute(
        select(breaks.c.type, func.count()).where(breaks.c.run_id == run_id).group_by(breaks.c.type)
    )
    return {r[0]: int(r[1]) for r in rows}


def change_break(
    conn: Connection,
    *,
    break_id: int,
    from_status: str,
    values: dict[str, Any],
) -> bool:
    """Compare-and-set on status: False if someone else moved the break meanwhile."""
    result = conn.execute(
        update(breaks)
        .where(breaks.c.id == break_id, breaks.c.status == from_status)
        .values(**values)
    )
    return result.rowcount == 1


def add_event(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(break_events), row)


def events_of(conn: Connection, break_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(break_events).where(break_events.c.break_id == break_id).order_by(break_events.c.id)
    )
    return [dict(r._mapping) for r in rows]


def unbooked_suspense(conn: Connection, *, source: str, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(breaks)
        .where(
            breaks.c.source == source,
            breaks.c.type == "missing_on_our_side",
            breaks.c.suspense_transfer_id.is_(None),
            breaks.c.line_status == "succeeded",
        )
        .order_by(breaks.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def record_suspense(conn: Connection, booked: Sequence[tuple[int, str]], now: datetime) -> None:
    if not booked:
        return
    # One executemany, not a statement per break: a bad day has tens of thousands.
    conn.execute(
        update(breaks)
        .where(breaks.c.id == bindparam("b_id"))
        .values(suspense_transfer_id=bindparam("b_transfer"), updated_at=now),
        [{"b_id": break_id, "b_transfer": transfer_id} for break_id, transfer_id in booked],
    )


def claimable_surplus(
    conn: Connection, *, source: str, limit: int, after: int = 0
) -> list[dict[str, Any]]:
    """Open surplus credits of `source` already in suspense whose line names our account
    and its payer: what handover.py offers to the slices that may own it."""
    rows = conn.execute(
        select(
            breaks.c.id,
            breaks.c.source,
            breaks.c.currency,
            breaks.c.line_amount,
            breaks.c.import_id,
            breaks.c.line_no,
            lines.c.account_enc,
            lines.c.counterparty_enc,
            lines.c.booked_at,
        )
        .join(
            lines,
            (lines.c.import_id == breaks.c.import_id) & (lines.c.line_no == breaks.c.line_no),
        )
        .where(
            breaks.c.id > after,
            breaks.c.source == source,
            breaks.c.type == "missing_on_our_side",
            breaks.c.status.in_(("open", "investigating")),
            breaks.c.suspense_transfer_id.is_not(None),
            breaks.c.direction == "credit",
            lines.c.account_enc.is_not(None),
            lines.c.counterparty_enc.is_not(None),
        )
        .order_by(breaks.c.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]
