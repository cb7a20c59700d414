"""Tables and SQL of the bills slice: day rollups of the journal, closed days and sealed
month statements. The journal itself is read here too (read-only), so that the service
speaks no SQL."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    func,
    select,
    text,
)

from paycore.bills.journal import LineKey
from paycore.bills.model import Balances, Category
from paycore.ledger.store import transfers
from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata

IN_CHUNK = 500
"""Ids per IN (...) list: well under every driver's parameter limit."""

# The live holds of an account, for "on hold, released when": partial indexes on the
# ledger's transfers, holding only pending ones (a handful), so a bill never scans the
# journal for them. Declared here, as bills are their only reader (migration 0020_bills).
_LIVE = text("status = 'pending'")
Index(
    "ix_bills_live_holds_debit",
    transfers.c.debit_account_id,
    postgresql_where=_LIVE,
    sqlite_where=_LIVE,
)
Index(
    "ix_bills_live_holds_credit",
    transfers.c.credit_account_id,
    postgresql_where=_LIVE,
    sqlite_where=_LIVE,
)

account_days = Table(
    "bills_account_days",
    metadata,
    Column("account_id", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("category", String(24), nullable=False),
    Column("product", String(32), nullable=False),
    Column("channel", String(24), nullable=False),
    Column("amount_in", BigInteger, nullable=False),
    Column("amount_out", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "day", "category", "product", "channel"),
)

day_balances = Table(
    "bills_day_balances",
    metadata,
    Column("account_id", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "day"),
)

closed_days = Table(
    "bills_closed_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("closed_at", UTCDateTime, nullable=False),
    Column("entries", Integer, nullable=False),
    # The journal was rolled up to this seq: the next day, and the raw tail of a
    # statement, read only entries after it (the entries table has no time index).
    Column("last_seq", BigInteger, nullable=False),
)

statements = Table(
    "bills_statements",
    metadata,
    Column("merchant_id", String(64), nullable=False),
    Column("month", String(7), nullable=False),
    Column("lines", JSONDocument, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("previous_hash", String(64), nullable=True),
    Column("sealed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("merchant_id", "month"),
)


def chunks(ids: Collection[str]) -> Iterator[list[str]]:
    items = sorted(ids)
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def row_balances(row: Any) -> Balances:
    return Balances(row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted)


# -- day rollups ---------------------------------------------------------------------


def last_closed(conn: Connection) -> tuple[date, int] | None:
    """The last closed day and the journal seq it was rolled up to."""
    row = conn.execute(
        select(closed_days.c.day, closed_days.c.last_seq)
        .order_by(closed_days.c.day.desc())
        .limit(1)
    ).first()
    return (row.day, int(row.last_seq)) if row else None


def first_closed_day(conn: Connection) -> date | None:
    day: date | None = conn.execute(select(func.min(closed_days.c.day))).scalar()
    return day


def close_day(
    conn: Connection,
    *,
    day: date,
    lines: Mapping[LineKey, Sequence[int]],
    balances: Mapping[str, tuple[Balances, int]],
    entries_count: int,
    last_seq: int,
    closed_at: datetime,
) -> None:
    line_rows = [
        {
            "account_id": key[0],
            "day": day,
            "category": key[1].value,
            "product": key[2],
            "channel": key[3],
            "amount_in": line[0],
            "amount_out": line[1],
            "count": line[2],
        }
        for key, line in lines.items()
        if line[2]
    ]
    if line_rows:
        conn.execute(account_days.insert(), line_rows)
    balance_rows = [
        {
            "account_id": account_id,
            "day": day,
            "debits_pending": b.debits_pending,
            "debits_posted": b.debits_posted,
            "credits_pending": b.credits_pending,
            "credits_posted": b.credits_posted,
            "last_seq": seq,
        }
        for account_id, (b, seq) in balances.items()
    ]
    if balance_rows:
        conn.execute(day_balances.insert(), balance_rows)
    conn.execute(
        closed_days.insert().values(
            day=day, closed_at=closed_at, entries=entries_count, last_seq=last_seq
        )
    )


def day_balances_before(
    conn: Connection, account_ids: Collection[str], day: date
) -> dict[str, tuple[Balances, int]]:
    """Each account's closing snapshot of the last closed day before `day` it moved on."""
    found: dict[str, tuple[Balances, int]] = {}
    for chunk in chunks(account_ids):
        last = (
            select(day_balances.c.account_id, func.max(day_balances.c.day).label("day"))
            .where(day_balances.c.account_id.in_(chunk), day_balances.c.day < day)
            .group_by(day_balances.c.account_id)
            .subquery()
        )
        rows = conn.execute(
            select(day_balances).join(
                last,
                and_(
                    day_balances.c.account_id == last.c.account_id,
                    day_balances.c.day == last.c.day,
                ),
            )
        )
        found.update({row.account_id: (row_balances(row), row.last_seq) for row in rows})
    return found


def rollup_lines(
    conn: Connection, account_ids: Collection[str], *, first: date, last: date
) -> list[tuple[LineKey, int, int, int]]:
    """Summed day rollups of the accounts over [first, last]: O(days x lines) rows."""
    found: list[tuple[LineKey, int, int, int]] = []
    c = account_days.c
    for chunk in chunks(account_ids):
        query = (
            select(
                c.account_id,
                c.category,
                c.product,
                c.channel,
                func.sum(c.amount_in).label("amount_in"),
                func.sum(c.amount_out).label("amount_out"),
                func.sum(c.count).label("moves"),
            )
            .where(c.account_id.in_(chunk), c.day >= first, c.day <= last)
            .group_by(c.account_id, c.category, c.product, c.channel)
        )
        for row in conn.execute(query):
            key = (row.account_id, Category(row.category), row.product, row.channel)
            found.append((key, int(row.amount_in), int(row.amount_out), int(row.moves)))
    return found


# -- sealed months -------------------------------------------------------------------


def sealed(conn: Connection, merchant_id: str, month: str) -> Any | None:
    query = select(statements).where(
        statements.c.merchant_id == merchant_id, statements.c.month == month
    )
    return conn.execute(query).first()


def insert_sealed(
    conn: Connection,
    *,
    merchant_id: str,
    month: str,
    lines: list[dict[str, object]],
    hash_: str,
    previous_hash: str | None,
    sealed_at: datetime,
) -> None:
    conn.execute(
        statements.insert().values(
            merchant_id=merchant_id,
            month=month,
            lines=lines,
            hash=hash_,
            previous_hash=previous_hash,
            sealed_at=sealed_at,
        )
    )


def latest_sealed_month(conn: Connection) -> str | None:
    month: str | None = conn.execute(select(func.max(statements.c.month))).scalar()
    return month


def sealed_months(conn: Connection, month: str | None = None) -> list[Any]:
    query = select(statements).order_by(statements.c.merchant_id, statements.c.month)
    if month is not None:
        query = query.where(statements.c.month == month)
    return list(conn.execute(query))
