"""Notification use cases: write an event into the caller's transaction, read, resend, stats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from paycore import ids
from paycore.clock import Clock, SystemClock
from paycore.errors import Rejected
from paycore.notifications import store
from paycore.notifications.model import (
    ATTEMPTS_SHOWN_MAX,
    EVENTS_PAGE_MAX,
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    new_event,
    rescheduled,
)
from paycore.notifications.sealing import seal_payload
from paycore.platform.db import WRITER
from paycore.security.crypto import FieldCipher


def enqueue(
    conn: Connection,
    *,
    cipher: FieldCipher,
    merchant_id: str,
    type: str,
    object_id: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> str:
    """Write an event and its pending delivery in the caller's open transaction.

    The transactional outbox: the caller changes an order and enqueues its event on the same
    connection, so both commit or neither does. Nothing is sent here; a relay sends it
    after the commit. Returns the event id (`evt_...`), which receivers dedupe by. The
    payload is stored sealed by `cipher` (it copies a payer's order: C2).
    """
    event, delivery = new_event(
        event_id=ids.new_id("evt"),
        merchant_id=merchant_id,
        type=type,
        object_id=object_id,
        payload=payload,
        now=now,
    )
    store.insert_event(conn, event, delivery, payload_enc=seal_payload(cipher, event.id, payload))
    return event.id


class Outbox:
    """`enqueue` with the process's cipher: the event sink the payment use cases are given
    (`PaymentsContext.events`)."""

    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher

    def __call__(
        self,
        conn: Connection,
        *,
        merchant_id: str,
        type: str,
        object_id: str,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> str:
        return enqueue(
            conn,
            cipher=self._cipher,
            merchant_id=merchant_id,
            type=type,
            object_id=object_id,
            payload=payload,
            now=now,
        )


@dataclass(frozen=True, slots=True)
class EventView:
    event: Event
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class EventDetail:
    event: Event
    delivery: Delivery
    attempts: list[Attempt]
    """Newest first, at most ATTEMPTS_SHOWN_MAX."""


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[EventView]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    pending: int
    oldest_pending_age_s: float
    """Age of the oldest event not yet delivered (0 when none is pending)."""
    failed: int
    skipped: int


class Notifications:
    """Reads and manual actions on the outbox. Thread-safe; one per process is enough.

    `merchant_id=None` means the platform itself (an admin or an operator): every merchant.
    A merchant asking for another merchant's event gets `event_not_found`.
    """

    def __init__(self, engine: Engine, *, cipher: FieldCipher, clock: Clock | None = None) -> None:
        self._engine = engine
        self._cipher = cipher  # opens the events' payloads
        self._clock = clock or SystemClock()

    def list_events(
        self,
        *,
        merchant_id: str | None,
        limit: int = 100,
        after: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> EventPage:
        """Events with their delivery state, newest first, keyset-paged by `next_cursor`."""
        if not 1 <= limit <= EVENTS_PAGE_MAX:
            raise Rejected("limit_out_of_range", f"limit must be 1 to {EVENTS_PAGE_MAX}")
        with self._engine.connect() as conn:
            rows = store.list_events(
                conn,
                self._cipher,
                merchant_id=merchant_id,
                status=status,
                after=after,
                limit=limit + 1,
            )
        page = [EventView(e, d) for e, d in rows[:limit]]
        cursor = page[-1].event.id if len(rows) > limit else None
        return EventPage(page, cursor)

    def get_event(self, event_id: str, *, merchant_id: str | None) -> EventDetail:
        with self._engine.connect() as conn:
            found = store.get_event(conn, self._cipher, event_id)
            if found is None or not _visible(found[0], merchant_id):
                raise Rejected("event_not_found", f"no event {event_id}")
            attempts = store.list_attempts(conn, event_id, limit=ATTEMPTS_SHOWN_MAX)
        return EventDetail(found[0], found[1], attempts)

    def resend(self, event_id: str, *, merchant_id: str | None = None) -> Delivery:
        """Deliver the event again, as soon as a relay looks: the same id and the same body,
        so a receiver that already has it dedupes. Works from any status."""
        now = self._clock.now()
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            delivery = store.get_delivery_for_update(conn, event_id)
            if delivery is None or (
                merchant_id is not None and delivery.merchant_id != merchant_id
            ):
                raise Rejected("event_not_found", f"no event {event_id}")
            again = rescheduled(delivery, now=now)
            store.save_delivery(conn, again)
        return again

    def delivery_stats(self) -> DeliveryStats:
        """For ops: the backlog, its age, and what gave up."""
        with self._engine.connect() as conn:
            counts = store.status_counts(conn)
        oldest = counts.oldest_pending_created_at
        age = 0.0 if oldest is None else max(0.0, (self._clock.now() - oldest).total_seconds())
        return DeliveryStats(
            pending=counts.pending,
            oldest_pending_age_s=age,
            failed=counts.failed,
            skipped=counts.skipped,
        )


def _visible(event: Event, merchant_id: str | None) -> bool:
    return merchant_id is None or event.merchant_id == merchant_id
