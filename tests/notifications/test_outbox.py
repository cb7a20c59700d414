"""The transactional outbox: an event exists exactly when the caller's transaction commits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, func, select, text

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.notifications import store
from paycore.notifications.model import DeliveryStatus
from paycore.notifications.service import Notifications, enqueue
from paycore.security.crypto import FieldCipher


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(text(table))).scalar_one())


def test_an_event_enqueued_in_a_transaction_that_rolls_back_leaves_nothing(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher
) -> None:
    class OrderUpdateFailed(Exception):
        pass

    with pytest.raises(OrderUpdateFailed), engine.begin() as conn:
        enqueue(
            conn, cipher=field_cipher,
            merchant_id="mer_a", type="payin.succeeded", object_id="pay_1",
            payload={"order_id": "pay_1"}, now=clock.now(),
        )  # fmt: skip
        raise OrderUpdateFailed

    assert count(engine, "notification_events") == 0
    assert count(engine, "notification_deliveries") == 0


def test_an_event_commits_with_the_callers_transaction_and_is_due_at_once(
    engine: Engine, clock: ManualClock, notifications: Notifications, field_cipher: FieldCipher
) -> None:
    with engine.begin() as conn:
        event_id = enqueue(
            conn, cipher=field_cipher,
            merchant_id="mer_a", type="payin.succeeded", object_id="pay_1",
            payload={"order_id": "pay_1", "amount": 100}, now=clock.now(),
        )  # fmt: skip

    detail = notifications.get_event(event_id, merchant_id="mer_a")
    assert event_id.startswith("evt_")
    assert detail.event.payload == {"order_id": "pay_1", "amount": 100}
    assert detail.event.created_at == clock.now()
    assert detail.delivery.status is DeliveryStatus.PENDING
    assert detail.delivery.next_attempt_at == clock.now()
    assert detail.delivery.attempts == 0
    assert detail.attempts == []


def test_a_refused_event_raises_before_writing_anything(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher
) -> None:
    with pytest.raises(Rejected, match="event_type_invalid"), engine.begin() as conn:
        enqueue(
            conn, cipher=field_cipher,
            merchant_id="mer_a", type="Paid!", object_id="pay_1", payload={},
            now=clock.now(),
        )  # fmt: skip

    assert count(engine, "notification_events") == 0


def test_events_list_newest_first_per_merchant_in_keyset_pages(
    emit: Callable[..., list[str]], clock: ManualClock, notifications: Notifications
) -> None:
    mine = emit(5, merchant_id="mer_a")
    emit(3, merchant_id="mer_b")

    first = notifications.list_events(merchant_id="mer_a", limit=2)
    second = notifications.list_events(merchant_id="mer_a", limit=2, after=first.next_cursor)
    last = notifications.list_events(merchant_id="mer_a", limit=2, after=second.next_cursor)

    seen = [v.event.id for page in (first, second, last) for v in page.events]
    assert seen == sorted(mine, reverse=True)
    assert last.next_cursor is None
    assert len(notifications.list_events(merchant_id=None).events) == 8


def test_a_merchant_cannot_see_or_resend_another_merchants_event(
    emit: Callable[..., list[str]], notifications: Notifications
) -> None:
    [theirs] = emit(1, merchant_id="mer_b")

    for act in (
        lambda: notifications.get_event(theirs, merchant_id="mer_a"),
        lambda: notifications.resend(theirs, merchant_id="mer_a"),
        lambda: notifications.get_event("evt_missing", merchant_id=None),
    ):
        with pytest.raises(Rejected) as refused:
            act()
        assert refused.value.code == "event_not_found"


def test_the_tables_are_the_ones_the_store_declares() -> None:
    assert {store.events.name, store.deliveries.name, store.attempts.name} == {
        "notification_events", "notification_deliveries", "notification_attempts",
    }  # fmt: skip
