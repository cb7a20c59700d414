"""Payment orders, channel attempts, idempotency keys and received callbacks: tables and SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
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
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)

from paycore.channels.model import FailureClass
from paycore.payments import details
from paycore.payments.model import Failure, Order, OrderKind, OrderStatus
from paycore.platform.db import JSONDocument, UTCDateTime
from paycore.platform.schema import metadata
from paycore.security.crypto import FieldCipher, KeyStoreUnbound

orders = Table(
    "payment_orders",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("merchant_reference", String(64), nullable=True),
    Column("product", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("fee_amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result_unknown", Boolean, nullable=False),
    Column("channel", String(24), nullable=True),
    Column("channel_txn_id", String(64), nullable=True),
    Column("failure_class", String(16), nullable=True),
    Column("failure_code", String(64), nullable=True),
    Column("failure_message", String(256), nullable=False),
    Column("parent_id", String(64), nullable=True),
    Column("refunded_amount", BigInteger, nullable=False),
    Column("party_enc", JSONDocument, nullable=False),
    Column("party_masked", JSONDocument, nullable=False),
    # The description and metadata, sealed (payments/details.py); their clear columns of
    # before 0029 were emptied by encrypt-backfill and dropped by 0032.
    Column("details_enc", Text, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("next_query_at", UTCDateTime, nullable=True),
    Column("query_attempts", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_payment_orders_merchant", "merchant_id", "kind", "id"),
    Index(
        "ux_payment_orders_reference",
        "merchant_id",
        "kind",
        "merchant_reference",
        unique=True,
    ),
    Index("ix_payment_orders_parent", "parent_id"),
    # For the flows built on payments (split, custody, collection) that sweep what finished.
    Index("ix_payment_orders_finished", "kind", "status", "finished_at"),
    # Only unresolved orders are indexed for the janitor: the index stays small forever.
    Index(
        "ix_payment_orders_due",
        "next_query_at",
        postgresql_where=text("status IN ('created', 'processing')"),
        sqlite_where=text("status IN ('created', 'processing')"),
    ),
)

attempts = Table(
    "payment_attempts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("order_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("merchant_id", String(64), nullable=False),
    Column("product", String(32), nullable=False),
    Column("channel", String(24), nullable=False),
    Column("business_date", Date, nullable=False),
    # sent | succeeded | failed | unknown | unavailable (certainly not processed) | not_sent
    Column("status", String(16), nullable=False),
    Column("failure_class", String(16), nullable=True),
    Column("failure_code", String(64), nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Index("ix_payment_attempts_order", "order_id"),
    Index("ix_payment_attempts_day", "business_date", "product", "channel"),
)

channel_callbacks = Table(
    "channel_callbacks",
    metadata,
    Column("channel", String(24), nullable=False),
    Column("notification_id", String(128), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("channel", "notification_id"),
)


# -- orders -----------------------------------------------------------------------------
# The statements of the per-order path are built once: building one (coercing every
# column and value, computing its cache key) cost more than executing it.

_INSERT_ORDER = insert(orders)
_GET_ORDER = select(orders).where(orders.c.id == bindparam("order_id"))
_STATE_COLUMNS = (
    "status",
    "result_unknown",
    "channel",
    "channel_txn_id",
    "failure_class",
    "failure_code",
    "failure_message",
    "updated_at",
    "finished_at",
    "next_query_at",
    "query_attempts",
    "version",
)
"""What changes on an order after its insert; the rest (amounts, parties, metadata) never
does, and `refunded_amount` moves only by `reserve_refund`/`release_refund`."""
_SAVE_ORDER = (
    update(orders)
    .where(orders.c.id == bindparam("b_id"), orders.c.version == bindparam("b_version"))
    .values({name: bindparam(name) for name in _STATE_COLUMNS})
)
_SAVE_PARTY = (
    update(orders).where(orders.c.id == bindparam("b_id")).values(party_enc=bindparam("party_enc"))
)
_FIND_BY_REFERENCE = select(orders).where(
    orders.c.merchant_id == bindparam("b_merchant_id"),
    orders.c.kind == bindparam("b_kind"),
    orders.c.merchant_reference == bindparam("b_ref"),
)
_REFUND_AMOUNT = bindparam("b_amount", type_=BigInteger)
_RESERVE_REFUND = (
    update(orders)
    .where(
        orders.c.id == bindparam("b_id"),
        orders.c.status == OrderStatus.SUCCEEDED.value,
        orders.c.refunded_amount + _REFUND_AMOUNT <= orders.c.amount,
    )
    .values(refunded_amount=orders.c.refunded_amount + _REFUND_AMOUNT, version=orders.c.version + 1)
)
_RELEASE_REFUND = (
    update(orders)
    .where(orders.c.id == bindparam("b_id"))
    .values(refunded_amount=orders.c.refunded_amount - _REFUND_AMOUNT, version=orders.c.version + 1)
)
_INSERT_ATTEMPT = insert(attempts)
_FINISH_OPEN_ATTEMPT = (
    update(attempts)
    .where(
        attempts.c.order_id == bindparam("b_order_id"),
        attempts.c.status.in_(["sent", "unknown"]),
    )
    .values(
        status=bindparam("status"),
        failure_class=bindparam("failure_class"),
        failure_code=bindparam("failure_code"),
        finished_at=bindparam("finished_at"),
        latency_ms=func.coalesce(bindparam("latency_ms", type_=Integer), attempts.c.latency_ms),
    )
)


def _changing(order: Order) -> dict[str, Any]:
    """The columns an order's life changes after it is recorded (what `save_order` writes)."""
    failure = order.failure
    return {
        "status": order.status.value,
        "result_unknown": order.result_unknown,
        "channel": order.channel,
        "channel_txn_id": order.channel_txn_id,
        "failure_class": failure.failure_class.value if failure else None,
        "failure_code": failure.code if failure else None,
        "failure_message": failure.message[:256] if failure else "",
        "updated_at": order.updated_at,
        "finished_at": order.finished_at,
        "next_query_at": order.next_query_at,
        "query_attempts": order.query_attempts,
    }


def _row(conn: Connection, order: Order) -> dict[str, Any]:
    sealed = order.details_enc
    if sealed is None and (order.description or order.metadata):
        sealed = details.seal_order_details(
            details.cipher_of(conn), order.id, order.description, order.metadata
        )
        order.details_enc = sealed
    return {
        "id": order.id,
        "kind": order.kind.value,
        "merchant_id": order.merchant_id,
        "merchant_reference": order.merchant_reference,
        "product": order.product,
        "amount": order.amount,
        "currency": order.currency,
        "fee_amount": order.fee_amount,
        "parent_id": order.parent_id,
        "refunded_amount": order.refunded_amount,
        "party_enc": dict(order.party_enc),
        "party_masked": dict(order.party_masked),
        "details_enc": sealed,
        "expires_at": order.expires_at,
        "created_at": order.created_at,
        "version": order.version,
        **_changing(order),
    }


def _order(row: Any, cipher: FieldCipher | None) -> Order:
    """An order from its row, its free text opened."""
    failure = None
    if row.failure_class is not None:
        failure = Failure(FailureClass(row.failure_class), row.failure_code, row.failure_message)
    description: str = ""
    metadata: dict[str, Any] = {}
    if row.details_enc is not None:
        if cipher is None:
            raise KeyStoreUnbound("order details are sealed and no cipher is given")
        description, metadata = details.open_order_details(cipher, row.id, row.details_enc)
    return Order(
        id=row.id,
        kind=OrderKind(row.kind),
        merchant_id=row.merchant_id,
        merchant_reference=row.merchant_reference,
        product=row.product,
        amount=row.amount,
        currency=row.currency,
        fee_amount=row.fee_amount,
        status=OrderStatus(row.status),
        result_unknown=row.result_unknown,
        channel=row.channel,
        channel_txn_id=row.channel_txn_id,
        failure=failure,
        parent_id=row.parent_id,
        refunded_amount=row.refunded_amount,
        description=description,
        party_enc=row.party_enc,
        party_masked=row.party_masked,
        metadata=metadata,
        details_enc=row.details_enc,
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        next_query_at=row.next_query_at,
        query_attempts=row.query_attempts,
        version=row.version,
    )


def _opener(conn: Connection) -> FieldCipher | None:
    # Looked up once per statement, not per row; a token with no cipher raises in _order.
    return details.cipher_for(conn.engine)


def insert_order(conn: Connection, order: Order) -> None:
    conn.execute(_INSERT_ORDER, _row(conn, order))


def get_order(conn: Connection, order_id: str) -> Order | None:
    row = conn.execute(_GET_ORDER, {"order_id": order_id}).first()
    return _order(row, _opener(conn)) if row else None


def find_by_reference(
    conn: Connection, *, merchant_id: str, kind: OrderKind, reference: str
) -> Order | None:
    row = conn.execute(
        _FIND_BY_REFERENCE, {"b_merchant_id": merchant_id, "b_kind": kind.value, "b_ref": reference}
    ).first()
    return _order(row, _opener(conn)) if row else None


def save_order(conn: Connection, order: Order) -> bool:
    """Compare-and-set on version: False if someone else changed the order meanwhile."""
    values = {
        **_changing(order),
        "version": order.version + 1,
        "b_id": order.id,
        "b_version": order.version,
    }
    result = conn.execute(_SAVE_ORDER, values)
    if result.rowcount != 1:
        return False
    order.version += 1
    return True


def save_party(conn: Connection, order_id: str, party_enc: Mapping[str, str]) -> None:
    """The party sealed again before its order's transaction commits (party.py: another
    transaction made the payer's subject key first)."""
    conn.execute(_SAVE_PARTY, {"b_id": order_id, "party_enc": dict(party_enc)})


def reserve_refund(conn: Connection, *, payin_id: str, amount: int) -> bool:
    """Atomically add to a pay-in's refunded amount if it stays within the captured amount.
    One conditional UPDATE: two concurrent refunds can never both pass the check."""
    result = conn.execute(_RESERVE_REFUND, {"b_id": payin_id, "b_amount": amount})
    return result.rowcount == 1


def release_refund(conn: Connection, *, payin_id: str, amount: int) -> None:
    conn.execute(_RELEASE_REFUND, {"b_id": payin_id, "b_amount": amount})


def list_orders(
    conn: Connection,
    *,
    merchant_id: str | None,
    kind: OrderKind,
    limit: int,
    after: str | None = None,
    status: OrderStatus | None = None,
    parent_id: str | None = None,
) -> list[Order]:
    """Newest first, keyset by id (ids are time-ordered)."""
    query = select(orders).where(orders.c.kind == kind.value)
    if merchant_id is not None:
        query = query.where(orders.c.merchant_id == merchant_id)
    if after is not None:
        query = query.where(orders.c.id < after)
    if status is not None:
        query = query.where(orders.c.status == status.value)
    if parent_id is not None:
        query = query.where(orders.c.parent_id == parent_id)
    rows = conn.execute(query.order_by(orders.c.id.desc()).limit(limit))
    cipher = _opener(conn)
    return [_order(r, cipher) for r in rows]


def finished_between(
    conn: Connection,
    *,
    kind: OrderKind,
    status: OrderStatus,
    start: datetime,
    end: datetime,
    products: Sequence[str] | None = None,
    limit: int,
) -> list[Order]:
    """Orders that reached `status` in [start, end), oldest first."""
    query = select(orders).where(
        orders.c.kind == kind.value,
        orders.c.status == status.value,
        orders.c.finished_at >= start,
        orders.c.finished_at < end,
    )
    if products is not None:
        query = query.where(orders.c.product.in_(list(products)))
    rows = conn.execute(query.order_by(orders.c.finished_at, orders.c.id).limit(limit))
    cipher = _opener(conn)
    return [_order(r, cipher) for r in rows]


def due_for_query(conn: Connection, *, now: datetime, limit: int) -> list[Order]:
    rows = conn.execute(
        select(orders)
        .where(
            orders.c.status.in_([OrderStatus.CREATED.value, OrderStatus.PROCESSING.value]),
            orders.c.next_query_at <= now,
        )
        .order_by(orders.c.next_query_at)
        .limit(limit)
    )
    cipher = _opener(conn)
    return [_order(r, cipher) for r in rows]


def query_now(conn: Connection, order_ids: Sequence[str], *, now: datetime) -> int:
    """Make unresolved orders due for the janitor at once (reconciliation found the
    channel disagrees). The version is not bumped: a concurrent save may only push the
    query back to its own schedule, which is harmless."""
    if not order_ids:
        return 0
    result = conn.execute(
        update(orders)
        .where(
            orders.c.id.in_(list(order_ids)),
            orders.c.status.in_([OrderStatus.CREATED.value, OrderStatus.PROCESSING.value]),
        )
        .values(next_query_at=now)
    )
    return result.rowcount or 0


def unresolved_summary(conn: Connection, *, now: datetime) -> tuple[int, datetime | None]:
    """How many orders still wait for a result, and when the oldest of them was created."""
    row = conn.execute(
        select(func.count(), func.min(orders.c.created_at)).where(
            orders.c.status.in_([OrderStatus.CREATED.value, OrderStatus.PROCESSING.value])
        )
    ).one()
    return int(row[0]), row[1]


# -- attempts ---------------------------------------------------------------------------


def insert_attempt(
    conn: Connection,
    *,
    attempt_id: str,
    order: Order,
    channel: str,
    business_date: date,
    started_at: datetime,
) -> None:
    conn.execute(
        _INSERT_ATTEMPT,
        {
            "id": attempt_id,
            "order_id": order.id,
            "kind": order.kind.value,
            "merchant_id": order.merchant_id,
            "product": order.product,
            "channel": channel,
            "business_date": business_date,
            "status": "sent",
            "started_at": started_at,
        },
    )


def finish_open_attempt(
    conn: Connection,
    *,
    order_id: str,
    status: str,
    failure: Failure | None,
    finished_at: datetime,
    latency_ms: int | None,
) -> None:
    """Close the order's attempt still waiting for an answer (there is at most one)."""
    conn.execute(
        _FINISH_OPEN_ATTEMPT,
        {
            "b_order_id": order_id,
            "status": status,
            "failure_class": failure.failure_class.value if failure else None,
            "failure_code": failure.code if failure else None,
            "finished_at": finished_at,
            "latency_ms": latency_ms,
        },
    )


def attempts_of(conn: Connection, order_id: str) -> list[Mapping[str, Any]]:
    rows = conn.execute(
        select(attempts).where(attempts.c.order_id == order_id).order_by(attempts.c.id)
    )
    return [dict(r._mapping) for r in rows]


# -- channel callbacks ------------------------------------------------------------------
# One statement, no savepoint: a duplicate inserts nothing instead of raising (and, on
# PostgreSQL, aborting the transaction it shares with the order's settlement). As text,
# because SQLAlchemy never caches the dialects' on_conflict_do_nothing() constructs.

_RECORD_CALLBACK = text(
    "INSERT INTO channel_callbacks (channel, notification_id, reference, status, received_at)"
    " VALUES (:channel, :notification_id, :reference, :status, :received_at)"
    " ON CONFLICT DO NOTHING RETURNING notification_id"
).bindparams(bindparam("received_at", type_=UTCDateTime()))


def record_callback(
    conn: Connection,
    *,
    channel: str,
    notification_id: str,
    reference: str,
    status: str,
    now: datetime,
) -> bool:
    """Remember a callback; False if this notification id was already processed."""
    remembered = conn.execute(
        _RECORD_CALLBACK,
        {
            "channel": channel,
            "notification_id": notification_id,
            "reference": reference,
            "status": status,
            "received_at": now,
        },
    )
    return remembered.first() is not None
