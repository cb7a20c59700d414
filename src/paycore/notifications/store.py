"""Notification tables and SQL: the outbox (events + deliveries) and the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)

from paycore.notifications.model import (
    NO_ENDPOINT_ERROR,
    RELAY_BATCH_MAX,
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
)
from paycore.notifications.sealing import open_payload
from paycore.platform.db import UTCDateTime
from paycore.platform.schema import metadata
from paycore.security.crypto import FieldCipher

events = Table(
    "notification_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("payload_enc", Text, nullable=True),  # sealing.py: the payload, sealed
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_notification_events_merchant_id", "merchant_id", "id"),
)

deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("merchant_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("leased_until", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(200), nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
)

attempts = Table(
    "notification_attempts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(200), nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_notification_attempts_event_id", "event_id", "id"),
)


# -- rows <-> model -------------------------------------------------------------------------


def _event(row: Any, cipher: FieldCipher) -> Event:
    return Event(
        id=row.id,
        merchant_id=row.merchant_id,
        type=row.type,
        object_id=row.object_id,
        payload=open_payload(cipher, row.id, row.payload_enc),
        created_at=row.created_at,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        event_id=row.event_id,
        merchant_id=row.merchant_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        leased_until=row.leased_until,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


def _attempt(row: Any) -> Attempt:
    return Attempt(
        id=row.id,
        event_id=row.event_id,
        attempted_at=row.attempted_at,
        url=row.url,
        status_code=row.status_code,
        error=row.error,
        duration_ms=row.duration_ms,
    )


def _delivery_values(d: Delivery) -> dict[str, Any]:
    return {
        "status": d.status.value,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "leased_until": d.leased_until,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at,
    }


# -- the outbox ---------------------------------------------------------------------------


_INSERT_EVENT = insert(events)
_INSERT_DELIVERY = insert(deliveries)
# Built once: every state change of every order writes one of each, and building a
# statement costs more than running it.


def insert_event(conn: Connection, event: Event, delivery: Delivery, *, payload_enc: str) -> None:
    """`payload_enc`: the event's payload sealed (sealing.seal_payload)."""
    conn.execute(
        _INSERT_EVENT,
        {
            "id": event.id,
            "merchant_id": event.merchant_id,
            "type": event.type,
            "object_id": event.object_id,
            "payload_enc": payload_enc,
            "created_at": event.created_at,
        },
    )
    conn.execute(
        _INSERT_DELIVERY,
        {
            "event_id": delivery.event_id,
            "merchant_id": delivery.merchant_id,
            **_delivery_values(delivery),
        },
    )


@dataclass(frozen=True, slots=True)
class Claim:
    event: Event
    delivery: Delivery
    """As claimed: `attempts` and `leased_until` identify this claim when it is settled."""


def _due(now: datetime, limit: int) -> Select[tuple[str]]:
    """Ids of deliveries due now and leased to no relay, locked without waiting for rows
    another relay holds (SKIP LOCKED on PostgreSQL; SQLite renders no FOR UPDATE)."""
    d = deliveries.c
    return (
        select(d.event_id)
        .where(
            d.status == DeliveryStatus.PENDING.value,
            d.next_attempt_at <= now,
            or_(d.leased_until.is_(None), d.leased_until <= now),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def claim_due(
    conn: Connection, cipher: FieldCipher, *, now: datetime, leased_until: datetime, limit: int
) -> list[Claim]:
    """Lease up to `limit` due deliveries, oldest due first, and count an attempt for each.

    PostgreSQL: the inner SELECT locks with SKIP LOCKED, so concurrent relays take disjoint
    rows without waiting; a row another relay leased meanwhile fails the re-checked WHERE.
    SQLite renders no FOR UPDATE: the caller's BEGIN IMMEDIATE makes claims one at a time.
    """
    d = deliveries.c
    due = _due(now, limit).order_by(d.next_attempt_at)
    rows = conn.execute(
        update(deliveries)
        .where(d.event_id.in_(due.scalar_subquery()))
        .values(attempts=d.attempts + 1, leased_until=leased_until)
        .returning(*deliveries.c)
    ).all()
    if not rows:
        return []
    by_id = {
        row.id: _event(row, cipher)
        for row in conn.execute(select(events).where(events.c.id.in_([r.event_id for r in rows])))
    }
    claims = [Claim(by_id[r.event_id], _delivery(r)) for r in rows]
    claims.sort(key=lambda c: c.event.id)
    return claims


def skip_due(conn: Connection, *, now: datetime, merchant_ids: Sequence[str]) -> int:
    """Skip, without claiming them, up to RELAY_BATCH_MAX due deliveries of these merchants
    (known to have no webhook URL): the state `model.skipped` gives a claimed one, no
    attempt counted, and no row read back. Rows another relay holds are left to it (SKIP
    LOCKED on PostgreSQL; one writer at a time on SQLite). Returns how many were skipped."""
    d = deliveries.c
    due = _due(now, RELAY_BATCH_MAX).where(d.merchant_id.in_(list(merchant_ids)))
    result = conn.execute(
        update(deliveries)
        .where(d.event_id.in_(due.scalar_subquery()))
        .values(
            status=DeliveryStatus.SKIPPED.value,
            next_attempt_at=None,
            leased_until=None,
            last_error=NO_ENDPOINT_ERROR,
        )
    )
    return result.rowcount or 0


def settle(conn: Connection, results: Sequence[tuple[Claim, Attempt | None, Delivery]]) -> int:
    """Log each attempt and write each delivery's new state, if its claim still holds.

    A claim no longer holds when its lease ran out and another relay claimed the delivery
    (or it was resent): the attempt is logged all the same, its outcome is not applied.
    Returns how many deliveries were written.
    """
    logged = [_attempt_values(a) for _, a, _ in results if a is not None]
    if logged:
        conn.execute(insert(attempts), logged)
    # Deliveries settled alike (most: delivered by one claim, same answer) share a statement.
    groups: dict[tuple[Any, ...], list[str]] = {}
    for claim, _, new in results:
        key = (claim.delivery.attempts, claim.delivery.leased_until, *_delivery_values(new).items())
        groups.setdefault(key, []).append(claim.delivery.event_id)
    d = deliveries.c
    written = 0
    for (claimed_attempts, claimed_lease, *values), event_ids in groups.items():
        written += conn.execute(
            update(deliveries)
            .where(
                d.event_id.in_(event_ids),
                d.attempts == claimed_attempts,
                d.leased_until == claimed_lease,
            )
            .values(dict(values))
        ).rowcount
    return written


def _attempt_values(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "event_id": a.event_id,
        "attempted_at": a.attempted_at,
        "url": a.url,
        "status_code": a.status_code,
        "error": a.error,
        "duration_ms": a.duration_ms,
    }


def save_delivery(conn: Connection, delivery: Delivery) -> None:
    conn.execute(
        update(deliveries)
        .where(deliveries.c.event_id == delivery.event_id)
        .values(**_delivery_values(delivery))
    )


# -- reads ----------------------------------------------------------------------------------


def get_event(
    conn: Connection, cipher: FieldCipher, event_id: str
) -> tuple[Event, Delivery] | None:
    row = conn.execute(
        select(events, *_delivery_columns())
        .join(deliveries, deliveries.c.event_id == events.c.id)
        .where(events.c.id == event_id)
    ).first()
    return None if row is None else (_event(row, cipher), _delivery(row))


def get_delivery_for_update(conn: Connection, event_id: str) -> Delivery | None:
    row = conn.execute(
        select(deliveries).where(deliveries.c.event_id == event_id).with_for_update()
    ).first()
    return None if row is None else _delivery(row)


def _delivery_columns() -> list[Any]:
    return [c for c in deliveries.c if c.name not in ("merchant_id",)]


def list_events(
    conn: Connection,
    cipher: FieldCipher,
    *,
    merchant_id: str | None,
    status: DeliveryStatus | None,
    after: str | None,
    limit: int,
) -> list[tuple[Event, Delivery]]:
    """Newest first; `after` is the last id of the previous page."""
    query = select(events, *_delivery_columns()).join(
        deliveries, deliveries.c.event_id == events.c.id
    )
    if merchant_id is not None:
        query = query.where(events.c.merchant_id == merchant_id)
    if status is not None:
        query = query.where(deliveries.c.status == status.value)
    if after is not None:
        query = query.where(events.c.id < after)
    rows = conn.execute(query.order_by(events.c.id.desc()).limit(limit))
    return [(_event(r, cipher), _delivery(r)) for r in rows]


def list_attempts(conn: Connection, event_id: str, *, limit: int) -> list[Attempt]:
    """The newest `limit` attempts of one event, newest first."""
    rows = conn.execute(
        select(attempts)
        .where(attempts.c.event_id == event_id)
        .order_by(attempts.c.id.desc())
        .limit(limit)
    )
    return [_attempt(r) for r in rows]


@dataclass(frozen=True, slots=True)
class StatusCounts:
    pending: int
    failed: int
    skipped: int
    oldest_pending_created_at: datetime | None


def status_counts(conn: Connection) -> StatusCounts:
    d = deliveries.c
    counts: dict[str, int] = {
        status: n
        for status, n in conn.execute(
            select(d.status, func.count())
            .where(d.status.in_(("pending", "failed", "skipped")))
            .group_by(d.status)
        )
    }
    oldest = conn.execute(
        select(func.min(events.c.created_at)).select_from(
            events.join(
                deliveries,
                and_(deliveries.c.event_id == events.c.id, d.status == "pending"),
            )
        )
    ).scalar()
    return StatusCounts(
        pending=counts.get("pending", 0),
        failed=counts.get("failed", 0),
        skipped=counts.get("skipped", 0),
        oldest_pending_created_at=oldest,
    )
