"""SQL of the bill queries: a merchant's orders and the transfers touching its accounts,
one keyset page at a time. Every statement is bounded by a LIMIT and walks an index, so a
page costs the same on the first day of the month as on the last.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Index,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
)

from paycore.ledger.store import accounts, entries, transfers
from paycore.payments.store import orders

# Orders are paged by (created_at, id) within a merchant: without this index a month's
# page would scan every order the merchant ever had. Declared here, beside the only
# queries that need it; migration 0021_bills_exports creates it.
Index(
    "ix_payment_orders_merchant_created",
    orders.c.merchant_id,
    orders.c.created_at,
    orders.c.id,
)


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) in UTC; either side open."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderWhere:
    merchant_id: str
    window: Window
    product: str | None = None
    channel: str | None = None
    status: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class TransferWhere:
    merchant_id: str
    window: Window
    status: str | None = None
    counterparty: str | None = None


def _within(column: Any, window: Window) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if window.start is not None:
        found.append(column >= window.start)
    if window.end is not None:
        found.append(column < window.end)
    return found


# -- orders ----------------------------------------------------------------------------


def _order_filters(where: OrderWhere) -> list[ColumnElement[bool]]:
    o = orders.c
    found = [o.merchant_id == where.merchant_id, *_within(o.created_at, where.window)]
    for column, value in (
        (o.product, where.product),
        (o.channel, where.channel),
        (o.status, where.status),
        (o.kind, where.kind),
    ):
        if value is not None:
            found.append(column == value)
    return found


_ORDER_COLUMNS = (
    orders.c.id,
    orders.c.kind,
    orders.c.merchant_reference,
    orders.c.product,
    orders.c.channel,
    orders.c.status,
    orders.c.amount,
    orders.c.fee_amount,
    orders.c.refunded_amount,
    orders.c.currency,
    orders.c.parent_id,
    orders.c.party_masked,
    orders.c.created_at,
    orders.c.finished_at,
    orders.c.details_enc,
)


def order_page(
    conn: Connection, where: OrderWhere, *, after: tuple[datetime, str] | None, limit: int
) -> Sequence[Any]:
    """Up to `limit` orders after the key (created_at, id), in that order."""
    o = orders.c
    query = select(*_ORDER_COLUMNS).where(*_order_filters(where))
    if after is not None:
        at, order_id = after
        # (created_at, id) > (at, order_id), spelled so that both SQLite and PostgreSQL
        # walk the index from `at` on (`>=` is the range; the OR only trims its start).
        query = query.where(o.created_at >= at, or_(o.created_at > at, o.id > order_id))
    return conn.execute(query.order_by(o.created_at, o.id).limit(limit)).all()


def order_stream(conn: Connection, where: OrderWhere, *, fetch_rows: int) -> Iterator[Any]:
    """Every order of `where` in (created_at, id) order, as plain tuples in the export's
    column order (bill_date aside: see query_rows.order_lines), from one statement whose
    rows are fetched `fetch_rows` at a time (PostgreSQL: a server-side cursor; memory
    holds one batch), then the sealed details (query_rows opens them). The instants come
    as naive UTC (a datetime, or SQLite's text of
    one) and the counterparty is read out of the JSON in SQL: decoding both per row in
    Python cost more than writing the row (measured on a million-line export)."""
    o = orders.c
    query = select(
        o.id,
        o.kind,
        _utc(conn, o.created_at),
        o.merchant_reference,
        o.product,
        o.channel,
        o.status,
        o.currency,
        o.amount,
        o.fee_amount,
        o.refunded_amount,
        _party_name(conn),
        o.parent_id,
        _utc(conn, o.finished_at),
        o.details_enc,
    ).where(*_order_filters(where))
    streamed = conn.execution_options(stream_results=True, yield_per=fetch_rows)
    result = streamed.execute(query.order_by(o.created_at, o.id))
    for batch in result.partitions():
        yield from batch


def _utc(conn: Connection, column: Any) -> ColumnElement[Any]:
    """The instant as stored, without the per-row conversion of UTCDateTime: SQLite's
    naive UTC text, PostgreSQL's timestamptz as a naive UTC timestamp."""
    if conn.dialect.name == "postgresql":
        return func.timezone("UTC", column, type_=DateTime())
    return type_coerce(column, String)


def _party_name(conn: Connection) -> ColumnElement[Any]:
    """The masked name in `party_masked`, when it is a non-empty string (else NULL)."""
    party = orders.c.party_masked
    if conn.dialect.name == "postgresql":
        is_text = func.jsonb_typeof(party.op("->")(literal("name"))) == "string"
        name: Any = party.op("->>")(literal("name"))
    else:
        is_text = func.json_type(party, "$.name") == "text"
        name = func.json_extract(party, "$.name")
    return case((is_text, func.nullif(type_coerce(name, String), "")), else_=None)


def count_orders(conn: Connection, where: OrderWhere, *, cap: int | None = None) -> int:
    return _count(select(literal(1)).select_from(orders).where(*_order_filters(where)), conn, cap)


# -- transfers -------------------------------------------------------------------------


def merchant_accounts(merchant_id: str) -> Select[Any]:
    """The ids of the merchant's accounts and of every wallet owner inside it
    (`merchant:owner`). A range, not LIKE: `_` and `%` are LIKE wildcards, and a range
    walks the owner index. ';' is the character after ':'."""
    a = accounts.c
    return select(a.id).where(
        or_(
            a.owner_id == merchant_id,
            and_(a.owner_id >= f"{merchant_id}:", a.owner_id < f"{merchant_id};"),
        )
    )


def _transfer_query(where: TransferWhere, *columns: Any) -> Select[Any]:
    """Journal entries of the merchant's accounts, one per transfer: the expiry of a hold
    writes entries under the hold's id again (its status says it expired), and a transfer
    between two of the merchant's own accounts is listed once, from its debit side."""
    e, t = entries.c, transfers.c
    own = merchant_accounts(where.merchant_id).scalar_subquery()
    other = case((e.side == "debit", t.credit_account_id), else_=t.debit_account_id)
    query = (
        select(*columns)
        .select_from(entries.join(transfers, t.id == e.transfer_id))
        .where(
            e.account_id.in_(own),
            e.event != "expired",
            or_(e.side == "debit", t.debit_account_id.not_in(own)),
            *_within(e.created_at, where.window),
        )
    )
    if where.status is not None:
        query = query.where(t.status == where.status)
    if where.counterparty is not None:
        query = query.where(other == where.counterparty)
    return query


def transfer_page(
    conn: Connection, where: TransferWhere, *, after: int | None, until: int, limit: int
) -> Sequence[Any]:
    """Up to `limit` transfers touching the merchant's accounts with an entry seq in
    (after, until], in journal order: the seq is the key, unique and increasing in commit
    order. The upper bound keeps a page bounded: without it the database reads (and sorts)
    every later entry of the merchant's accounts to find the first `limit`, on every page."""
    e, t = entries.c, transfers.c
    own = merchant_accounts(where.merchant_id).scalar_subquery()
    query = _transfer_query(
        where,
        e.seq,
        e.account_id,
        e.side,
        t.id,
        t.debit_account_id,
        t.credit_account_id,
        t.amount,
        t.currency,
        t.code,
        t.status,
        t.pending_id,
        t.metadata,
        t.created_at,
        # 1 when both sides are the merchant's: its own money moving between its accounts.
        case((and_(e.side == "debit", t.credit_account_id.in_(own)), 1), else_=0).label("own"),
    ).where(e.seq <= until)
    if after is not None:
        query = query.where(e.seq > after)
    return conn.execute(query.order_by(e.seq).limit(limit)).all()


def last_seq(conn: Connection) -> int:
    """The journal's last entry (0 when empty): where a transfers scan may stop."""
    return int(conn.execute(select(func.max(entries.c.seq))).scalar_one_or_none() or 0)


def count_transfers(conn: Connection, where: TransferWhere, *, cap: int | None = None) -> int:
    return _count(_transfer_query(where, literal(1)), conn, cap)


def _count(query: Select[Any], conn: Connection, cap: int | None) -> int:
    """How many rows `query` yields; with `cap`, stops counting past it (a small export
    asks "more than N?", which must not cost a scan of the whole month)."""
    if cap is not None:
        query = query.limit(cap + 1)
    found = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    return int(found)
