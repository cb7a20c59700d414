"""An event's payload copies a payer's order (C2): kept sealed in
`notification_events.payload_enc`, bound to its event, and delivered, signed and listed
exactly as before."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, column, select, table, update

from paycore.clock import ManualClock
from paycore.notifications import store
from paycore.notifications.model import DeliveryStatus, Event, body_of
from paycore.notifications.relay import WebhookRelay
from paycore.notifications.service import Notifications, enqueue
from paycore.platform.db import JSONDocument
from paycore.security.blind import BlindIndexer
from paycore.security.columns_backfill import EncryptBackfill
from paycore.security.crypto import FieldCipher
from paycore.security.keys import TamperedCiphertext
from tests.notifications.conftest import Receiver
from tests.security.legacy_db import (
    clear_values,
    insert_clear_event,
    legacy_engine,  # noqa: F401
    legacy_url,  # noqa: F401
)

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


def row_of(engine: Engine, event_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(E.payload_enc).where(E.id == event_id)).one()
    return dict(row._mapping)


def test_an_event_payload_is_stored_sealed(
    engine: Engine, clock: ManualClock, field_cipher: FieldCipher
) -> None:
    event_id = write(engine, field_cipher, clock)

    row = row_of(engine, event_id)

    assert "payload" not in E  # no clear column since 0032
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


def test_an_event_written_in_clear_before_0030_is_delivered_as_it_read_once_backfilled(
    legacy_engine: Engine,  # noqa: F811
    clock: ManualClock,
    field_cipher: FieldCipher,
    make_relay: Callable[..., WebhookRelay],
    receiver: Receiver,
) -> None:
    insert_clear_event(
        legacy_engine, event_id="evt_old", payload=json.dumps(PAYLOAD), at=clock.now()
    )
    old = table("notification_events", column("id"), column("payload", JSONDocument))
    with legacy_engine.connect() as conn:  # the payload as the code before 0030 read it
        as_read = conn.execute(select(old.c.payload)).scalar_one()
    before = body_of(Event("evt_old", "mer_a", "payin.succeeded", "pay_old", as_read, clock.now()))

    moved = EncryptBackfill(
        legacy_engine, field_cipher, BlindIndexer({"k1": os.urandom(32)}, "k1")
    ).run()
    make_relay(engine=legacy_engine).run_once()
    detail = Notifications(legacy_engine, cipher=field_cipher, clock=clock).get_event(
        "evt_old", merchant_id="mer_a"
    )

    # On PostgreSQL the clear JSONB had its own key order: sealing what was read keeps it.
    assert moved["notification_events.payload"] == 1
    assert receiver.raw_bodies["evt_old"] == {before}
    assert receiver.bad_signatures == 0 and receiver.bodies[0]["data"] == PAYLOAD
    assert detail.event.payload == PAYLOAD
    assert detail.delivery.status is DeliveryStatus.DELIVERED
    assert clear_values(legacy_engine, "notification_events", "payload") == []


def test_a_relay_or_reader_without_a_cipher_is_a_wiring_error(engine: Engine) -> None:
    with pytest.raises(TypeError, match="cipher"):
        WebhookRelay(engine, endpoints=lambda _merchant: None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="cipher"):
        Notifications(engine)  # type: ignore[call-arg]
