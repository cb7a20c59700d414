"""The blind index table (one for every slice) and the backfill's checkpoints.

`security_blind_index` holds only tokens (HMACs), never a clear or encrypted number. Its
primary key (kind, token, object_type, object_id) serves lookups by token and makes every
write idempotent (a retried unit of work, a backfill run twice); the object index serves
"what does paycore hold on this object" (the data-subject export, erasure).

`security_blind_backfill` remembers, per source table and key id, the last row indexed,
so an interrupted backfill resumes there; a new key id starts over.

The backfill reads the sealed columns of the slices that hold personal numbers (read
only, keyset-paged by primary key): payment_orders.party_enc, collection_plans.card_enc,
custody_receipts.payer_enc, recon_lines.counterparty_enc.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    text,
)

from paycore.collection.store import plans
from paycore.custody.store import receipts
from paycore.payments.store import orders
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata
from paycore.recon.store import lines

blind_index = Table(
    "security_blind_index",
    metadata,
    Column("kind", String(16), nullable=False),
    Column("token", String(96), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(160), nullable=False),
    Column("merchant_id", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint(
        "kind", "token", "object_type", "object_id", name="pk_security_blind_index"
    ),
    Index("ix_security_blind_index_object", "object_type", "object_id"),
)

backfill_checkpoints = Table(
    "security_blind_backfill",
    metadata,
    Column("source", String(32), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("after_key", String(240), nullable=False),
    Column("rows_done", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("source", "key_id", name="pk_security_blind_backfill"),
)


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    token: str
    object_type: str
    object_id: str
    merchant_id: str | None


# Text, which both databases read alike, and compiled once (see store_idempotency).
_INSERT = text(
    "INSERT INTO security_blind_index"
    " (kind, token, object_type, object_id, merchant_id, created_at)"
    " VALUES (:kind, :token, :object_type, :object_id, :merchant_id, :created_at)"
    " ON CONFLICT DO NOTHING"
).bindparams(bindparam("created_at", type_=UTCDateTime()))


def insert_entries(conn: Connection, entries: Sequence[Entry], *, now: datetime) -> None:
    if not entries:
        return
    conn.execute(
        _INSERT,
        [
            {
                "kind": e.kind,
                "token": e.token,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "merchant_id": e.merchant_id,
                "created_at": now,
            }
            for e in entries
        ],
    )


def find(
    conn: Connection,
    *,
    kind: str,
    tokens: Sequence[str],
    merchant_id: str | None,
    object_type: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Distinct objects holding any of the tokens (one per key), oldest id first."""
    t = blind_index.c
    query = (
        select(t.object_type, t.object_id, t.merchant_id)
        .where(t.kind == kind, t.token.in_(list(tokens)))
        .distinct()
        .order_by(t.object_type, t.object_id)
        .limit(limit)
    )
    if merchant_id is not None:
        query = query.where(t.merchant_id == merchant_id)
    if object_type is not None:
        query = query.where(t.object_type == object_type)
    return [dict(row._mapping) for row in conn.execute(query)]


def delete_object(conn: Connection, *, object_type: str, object_id: str) -> int:
    """Forget an object's entries (after its numbers were erased)."""
    t = blind_index.c
    query = delete(blind_index).where(t.object_type == object_type, t.object_id == object_id)
    return conn.execute(query).rowcount or 0


def prune_recon_import(conn: Connection, import_id: str) -> None:
    """Drop the entries of an import's lines that are no longer there."""
    t, line = blind_index.c, lines.c
    kept = select(line.line_no).where(
        line.import_id == import_id,
        t.object_id == line.import_id + "/" + cast(line.line_no, String),
    )
    conn.execute(
        delete(blind_index).where(
            t.object_type == "recon_line",
            t.object_id.startswith(f"{import_id}/", autoescape=True),
            ~kept.exists(),
        )
    )


# -- backfill: checkpoints and the sealed columns of each source -----------------------


def checkpoint(conn: Connection, *, source: str, key_id: str) -> tuple[str, int] | None:
    c = backfill_checkpoints.c
    row = conn.execute(
        select(c.after_key, c.rows_done).where(c.source == source, c.key_id == key_id)
    ).first()
    return None if row is None else (str(row.after_key), int(row.rows_done))


def save_checkpoint(
    conn: Connection, *, source: str, key_id: str, after_key: str, rows_done: int, now: datetime
) -> None:
    c = backfill_checkpoints.c
    changed = conn.execute(
        backfill_checkpoints.update()
        .where(c.source == source, c.key_id == key_id)
        .values(after_key=after_key, rows_done=rows_done, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(
            backfill_checkpoints.insert().values(
                source=source,
                key_id=key_id,
                after_key=after_key,
                rows_done=rows_done,
                updated_at=now,
            )
        )


@dataclass(frozen=True, slots=True)
class SealedRow:
    """One row of a source: its key for paging, the object it is, and what is sealed."""

    page_key: str
    object_type: str
    object_id: str
    merchant_id: str | None
    sealed: Any


PageReader = Callable[[Connection, str, int], list[SealedRow]]


def _payment_orders(conn: Connection, after: str, limit: int) -> list[SealedRow]:
    o = orders.c
    query = select(o.id, o.kind, o.merchant_id, o.party_enc).where(o.id > after)
    return [
        SealedRow(r.id, str(r.kind), r.id, r.merchant_id, r.party_enc)
        for r in conn.execute(query.order_by(o.id).limit(limit))
    ]


def _collection_plans(conn: Connection, after: str, limit: int) -> list[SealedRow]:
    p = plans.c
    query = select(p.id, p.merchant_id, p.card_enc).where(p.id > after, p.card_enc.is_not(None))
    return [
        SealedRow(r.id, "collection_plan", r.id, r.merchant_id, r.card_enc)
        for r in conn.execute(query.order_by(p.id).limit(limit))
    ]


def _custody_receipts(conn: Connection, after: str, limit: int) -> list[SealedRow]:
    c = receipts.c
    query = select(c.id, c.merchant_id, c.payer_enc).where(c.id > after, c.payer_enc.is_not(None))
    return [
        SealedRow(r.id, "custody_receipt", r.id, r.merchant_id, r.payer_enc)
        for r in conn.execute(query.order_by(c.id).limit(limit))
    ]


def _recon_lines(conn: Connection, after: str, limit: int) -> list[SealedRow]:
    c = lines.c
    import_id, _, line_no = after.rpartition("/")
    query: Select[Any] = select(c.import_id, c.line_no, c.counterparty_enc).where(
        c.counterparty_enc.is_not(None)
    )
    if after:
        query = query.where(
            or_(
                c.import_id > import_id,
                and_(c.import_id == import_id, c.line_no > int(line_no)),
            )
        )
    return [
        SealedRow(
            f"{r.import_id}/{r.line_no:09d}",
            "recon_line",
            f"{r.import_id}/{r.line_no}",
            None,
            r.counterparty_enc,
        )
        for r in conn.execute(query.order_by(c.import_id, c.line_no).limit(limit))
    ]


SOURCES: dict[str, PageReader] = {
    "payment_orders": _payment_orders,
    "collection_plans": _collection_plans,
    "custody_receipts": _custody_receipts,
    "recon_lines": _recon_lines,
}
"""In the order a backfill walks them."""


def count_sealed(conn: Connection, source: str) -> int:
    table, column = {
        "payment_orders": (orders, orders.c.id),
        "collection_plans": (plans, plans.c.card_enc),
        "custody_receipts": (receipts, receipts.c.payer_enc),
        "recon_lines": (lines, lines.c.counterparty_enc),
    }[source]
    return int(conn.execute(select(func.count(column)).select_from(table)).scalar_one())
