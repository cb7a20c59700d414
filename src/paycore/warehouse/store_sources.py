"""What each warehouse table reads from the slices' tables: rows in the order of its
Parquet schema's columns (schemas.py), streamed in batches, never a whole table at once.

Personal numbers come out only as the blind-index tokens the slices wrote with their rows
(`security_blind_index`: payments write `payin`/`payout`/`refund` objects, custody
`custody_receipt`); names, notes, descriptions and sealed columns are never selected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, select

from paycore.ledger.store import accounts, entries, transfers
from paycore.payments import store as payments_store
from paycore.security.store_blind import blind_index

Rows = Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Window:
    """What one run reads: a journal seq range (after, upto], or changes in [from, to)."""

    after_seq: int = 0
    upto_seq: int = 0
    from_at: datetime | None = None
    to_at: datetime | None = None


def changed_in(column: Any, window: Window) -> ColumnElement[bool]:
    """`column` (an updated-at) falls in the window."""
    if window.to_at is None:
        raise ValueError("an updated-at window needs its end")
    upper = column < window.to_at
    return upper if window.from_at is None else and_(column >= window.from_at, upper)


def stream(conn: Connection, query: Select[Any], batch: int) -> Iterator[Rows]:
    """One query, its rows fetched `batch` at a time (a server-side cursor on PostgreSQL)."""
    result = conn.execution_options(yield_per=batch).execute(query)
    yield from result.partitions()


def latest_token(kind: str, object_type: Any, object_id: Any) -> Any:
    """The latest token of an object's number of `kind` (after a key rotation an object
    holds one per key: the newest one is the one lookups under the current key find)."""
    b = blind_index.c
    return (
        select(b.token)
        .where(b.kind == kind, b.object_type == object_type, b.object_id == object_id)
        .order_by(b.created_at.desc(), b.token.desc())
        .limit(1)
        .scalar_subquery()
    )


# -- ledger -------------------------------------------------------------------------------


def ledger_entries(conn: Connection, window: Window, batch: int) -> Iterator[Rows]:
    """Pages by seq range, `batch` seqs each: each page is one short read by primary key
    (a LIMIT over the rest of the range would have the database join and sort all of it
    for every page). Gaps (rolled-back seqs) only make a page shorter."""
    e, a = entries.c, accounts.c
    query = (
        select(
            e.seq,
            e.transfer_id,
            e.account_id,
            a.code,
            a.owner_id,
            a.currency,
            e.event,
            e.side,
            e.amount,
            e.created_at,
        )
        .select_from(entries.join(accounts, a.id == e.account_id))
        .order_by(e.seq)
    )
    after = window.after_seq
    while after < window.upto_seq:
        upto = min(after + batch, window.upto_seq)
        page = conn.execute(query.where(e.seq > after, e.seq <= upto)).all()
        if page:
            yield page
        after = upto


def ledger_transfers(conn: Connection, window: Window, batch: int) -> Iterator[Rows]:
    """Every transfer an entry of the range touched (created, posted, voided, expired),
    once, with the highest seq that touched it: grouped by the database, streamed out."""
    e, t = entries.c, transfers.c
    touched = (
        select(e.transfer_id, func.max(e.seq).label("last_seq"))
        .where(e.seq > window.after_seq, e.seq <= window.upto_seq)
        .group_by(e.transfer_id)
        .subquery()
    )
    debit, credit = accounts.alias("debit"), accounts.alias("credit")
    query = select(
        t.id,
        t.debit_account_id,
        t.credit_account_id,
        debit.c.owner_id,
        credit.c.owner_id,
        debit.c.code,
        credit.c.code,
        t.amount,
        t.currency,
        t.code,
        t.flags,
        t.pending_id,
        t.status,
        t.created_at,
        touched.c.last_seq,
    ).select_from(
        touched.join(transfers, t.id == touched.c.transfer_id)
        .join(debit, debit.c.id == t.debit_account_id)
        .join(credit, credit.c.id == t.credit_account_id)
    )
    yield from stream(conn, query, batch)


# -- payments -----------------------------------------------------------------------------


def _changed_orders(window: Window) -> Any:
    """Orders changed in the window, and the parents of refunds changed in it (a refund
    moves its pay-in's refunded amount without touching the pay-in's updated_at)."""
    o = payments_store.orders.c
    changed = select(o.id).where(changed_in(o.updated_at, window))
    parents = select(o.parent_id).where(changed_in(o.updated_at, window), o.parent_id.is_not(None))
    return changed.union(parents)


def payment_orders(conn: Connection, window: Window, batch: int) -> Iterator[Rows]:
    o = payments_store.orders.c
    query = select(
        o.id,
        o.kind,
        o.merchant_id,
        o.product,
        o.amount,
        o.currency,
        o.fee_amount,
        o.status,
        o.channel,
        o.failure_class,
        o.failure_code,
        o.parent_id,
        o.refunded_amount,
        latest_token("card_number", o.kind, o.id),
        latest_token("id_number", o.kind, o.id),
        latest_token("phone", o.kind, o.id),
        latest_token("account_number", o.kind, o.id),
        o.party_masked,  # only its masked card number is kept, below
        o.created_at,
        o.updated_at,
        o.finished_at,
    ).where(o.id.in_(_changed_orders(window)))
    for page in stream(conn, query, batch):
        yield [(*row[:17], _masked_card(row[17]), *row[18:]) for row in page]


def _masked_card(masked: Any) -> str | None:
    found = masked.get("card_number") if isinstance(masked, dict) else None
    return str(found) if found else None


def payment_attempts(conn: Connection, window: Window, batch: int) -> Iterator[Rows]:
    """The attempts of the orders changed in the window (an attempt starts and ends with
    a change of its order's status)."""
    a = payments_store.attempts.c
    query = select(
        a.id,
        a.order_id,
        a.kind,
        a.merchant_id,
        a.product,
        a.channel,
        a.business_date,
        a.status,
        a.failure_class,
        a.failure_code,
        a.started_at,
        a.finished_at,
        a.latency_ms,
    ).where(a.order_id.in_(_changed_orders(window)))
    yield from stream(conn, query, batch)
