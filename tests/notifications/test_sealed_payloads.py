"""An event's payload copies a payer's order (C2): kept sealed in
`notification_events.payload_enc`, bound to its event, and delivered, signed and listed
exactly as before."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from paycore.clock import ManualClock
from paycore.notifications import store
from paycore.notifications.model import DeliveryStatus, Event, body_of, new_event
from paycore.notifications.relay import WebhookRelay
from paycore.notifications.sealing import seal_payload_row
from paycore.notifications.service import Notifications, enqueue
from paycore.security import store_columns
from paycore.security.crypto import FieldCipher
from paycore.security.keys import TamperedCiphertext
from tests.notifications.conftest import Receiver

E = store.events.c
# Keys in an order JSONB would not keep (it sorts by length): the body must keep this one.
PAYLOAD = {
    "order_id": "pay_1",
    "status": "succeeded",
    "amount": 10_000,
    "payer": {"card_number": "622848******0018", "name": "张*"},
    "description": "November rent, flat 3",
    "metadata": {"zz": 1, "a": [1, 2]},
}


def write(engine: Engine, cipher: FieldCipher, clock: ManualClock) -> str:
    with engine.begin() as conn:
        return enqueue(
            conn,
            cipher=cipher,
            merchant_id="mer_a",
            type="payin.succeeded",
            object_id="pay_1",
            payload=PAYLOAD,
            now=clock.now(),
        )


def write_clear(engine: Engine, clock: ManualClock, payload: dict[str, Any]) -> str:
    """An event as a release before migration 0030 wrote it: the payload in clear."""
    event, delivery = new_event(
        event_id="evt_old",
        merchant_id="mer_a",
        type="payin.succeeded",
        object_id="pay_old",
        payload=payload,
        now=clock.now(),
    )
    with engine.begin() as conn:
        conn.execute(
            insert(store.events).values(
                id=event.id,
                merchant_id=event.merchant_id,
                type=event.type,
                object_id=event.object_id,
                payload=payload,
                created_at=event.created_at,
            )
        )
        conn.execute(
            insert(store.deliveries).values(
                event_id=event.id,
                merchant_id=event.merchant_id,
                status=delivery.status.value,
                attempts=0,
                next_attempt_at=delivery.next_attempt_at,
            )
        )
    return event.id


def row_of(engine: Engine, event_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            select(E.payload_enc, E.payload.is_(None).label("clear_is_null")).where(
                E.id == event_id
            )
        ).one()
    return dict(row._mapping)


def test_an_event_payload_is_stored_sealed_with_its_clear_column_sql_null(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher
) -> None:
    event_id = write(engine, field_cipher, clock)

    row = row_of(engine, event_id)

    assert row["clear_is_null"]
    for clear in ("pay_1", "November", "0018", "succeeded"):
        assert clear not in row["payload_enc"]


def test_a_delivered_webhook_body_and_signature_verify_as_before(
    engine: Engine,
    clock: ManualClock,
    field_cipher: FieldCipher,
    relay: WebhookRelay,
    receiver: Receiver,
) -> None:
    event_id = write(engine, field_cipher, clock)

    relay.run_once()

    expected = body_of(Event(event_id, "mer_a", "payin.succeeded", "pay_1", PAYLOAD, clock.now()))
    assert receiver.raw_bodies[event_id] == {expected}
    assert receiver.bad_signatures == 0
    assert list(receiver.bodies[0]["data"]) == list(PAYLOAD)  # the keys' order kept


def test_the_events_api_reads_the_payload_opened(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, notifications: Notifications
) -> None:
    event_id = write(engine, field_cipher, clock)

    [listed] = notifications.list_events(merchant_id="mer_a").events
    shown = notifications.get_event(event_id, merchant_id="mer_a")

    assert listed.event.payload == shown.event.payload == PAYLOAD


def test_an_event_written_in_clear_before_0030_is_still_delivered_and_shown(
    engine: Engine,
    clock: ManualClock,
    relay: WebhookRelay,
    receiver: Receiver,
    notifications: Notifications,
) -> None:
    event_id = write_clear(engine, clock, PAYLOAD)

    relay.run_once()

    detail = notifications.get_event(event_id, merchant_id="mer_a")
    assert detail.event.payload == PAYLOAD
    assert detail.delivery.status is DeliveryStatus.DELIVERED
    assert receiver.bad_signatures == 0
    assert receiver.bodies[0]["data"] == PAYLOAD


def test_a_sealed_payload_copied_to_another_event_does_not_open(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, notifications: Notifications
) -> None:
    first = write(engine, field_cipher, clock)
    second = write(engine, field_cipher, clock)
    with engine.begin() as conn:
        conn.execute(
            update(store.events)
            .where(E.id == second)
            .values(payload_enc=row_of(engine, first)["payload_enc"])
        )

    with pytest.raises(TamperedCiphertext):
        notifications.get_event(second, merchant_id=None)


def test_the_backfill_seals_an_old_payload_and_its_body_stays_the_same(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher, notifications: Notifications
) -> None:
    event_id = write_clear(engine, clock, PAYLOAD)
    before = body_of(notifications.get_event(event_id, merchant_id=None).event)

    with engine.begin() as conn:
        [row] = store_columns.clear_page(
            conn, store.events, keys=("id",), clear="payload", also=(), after=None, limit=10
        )
        sealed = seal_payload_row(field_cipher, row)
        store_columns.seal(
            conn,
            store.events,
            keys=("id",),
            clear="payload",
            values=[{"k_id": event_id, "v_payload_enc": sealed["payload_enc"]}],
        )

    # On PostgreSQL the clear JSONB had its own key order: sealing what was read keeps it.
    assert body_of(notifications.get_event(event_id, merchant_id=None).event) == before
    assert row_of(engine, event_id)["payload_enc"] is not None


def test_a_relay_or_reader_without_a_cipher_is_a_wiring_error(engine: Engine) -> None:
    with pytest.raises(TypeError, match="cipher"):
        WebhookRelay(engine, endpoints=lambda _merchant: None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="cipher"):
        Notifications(engine)  # type: ignore[call-arg]
