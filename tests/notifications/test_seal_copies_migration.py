"""Migration 0030 on copies written before it: old idempotent answers and event payloads
keep their clear value and read once the encrypt backfill sealed them, new ones are
sealed, and the migration is not undone over sealed values. SQLite, and a scratch
PostgreSQL database when the suite runs on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from paycore.clock import ManualClock
from paycore.notifications.service import Notifications, enqueue
from paycore.payments import store_idempotency
from paycore.platform.db import make_engine, upgrade
from paycore.security.blind import BlindIndexer
from paycore.security.columns_backfill import EncryptBackfill
from paycore.security.crypto import FieldCipher
from tests.migration_kit import downgrade, scratch_database

BEFORE = "0029_seal_order_details"
AFTER = "0030_seal_copies"
CIPHER = FieldCipher({"m30": os.urandom(32)}, "m30")


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the suite's is already at head)."""
    with scratch_database(request.param, tmp_path, "mig30") as url:
        yield url


def write_old_copies(url: str, clock: ManualClock) -> None:
    """An answered key and an event as the code before 0030 wrote them."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO idempotency_keys (merchant_id, key, request_hash, object_id,"
                    " status_code, response, created_at)"
                    " VALUES ('mer_a', 'k-old', 'h', 'pay_old', 201, :response, :at)"
                ),
                {"response": '{"id": "pay_old", "status": "processing"}', "at": clock.now()},
            )
            conn.execute(
                text(
                    "INSERT INTO notification_events (id, merchant_id, type, object_id,"
                    " payload, created_at)"
                    " VALUES ('evt_old', 'mer_a', 'payin.succeeded', 'pay_old', :p, :at)"
                ),
                {"p": '{"order_id": "pay_old"}', "at": clock.now()},
            )
            conn.execute(
                text(
                    "INSERT INTO notification_deliveries (event_id, merchant_id, status,"
                    " attempts, next_attempt_at) VALUES ('evt_old', 'mer_a', 'pending', 0, :at)"
                ),
                {"at": clock.now()},
            )
    finally:
        engine.dispose()


def test_old_copies_read_after_0030_once_backfilled_and_new_ones_are_sealed(
    scratch_url: str, clock: ManualClock
) -> None:
    upgrade(scratch_url, BEFORE)
    write_old_copies(scratch_url, clock)
    upgrade(scratch_url, AFTER)
    engine = make_engine(scratch_url)
    try:
        # The code reads sealed copies only (its tables name no clear column since 0032).
        EncryptBackfill(engine, CIPHER, BlindIndexer({"k1": os.urandom(32)}, "k1")).run()
        notifications = Notifications(engine, cipher=CIPHER, clock=clock)
        with engine.begin() as conn:
            prior = store_idempotency.claim_idempotency_key(  # a retry of the old request
                conn, merchant_id="mer_a", key="k-old", request_hash="h", object_id="pay_x",
                now=clock.now(),
            )  # fmt: skip
            new_id = enqueue(
                conn, cipher=CIPHER, merchant_id="mer_a", type="payin.succeeded",
                object_id="pay_new", payload={"order_id": "pay_new"}, now=clock.now(),
            )  # fmt: skip
        assert prior is not None
        old_response = store_idempotency.stored_response(CIPHER, prior)

        assert old_response == {"id": "pay_old", "status": "processing"}
        assert notifications.get_event("evt_old", merchant_id=None).event.payload == {
            "order_id": "pay_old"
        }
        assert notifications.get_event(new_id, merchant_id=None).event.payload == {
            "order_id": "pay_new"
        }
        with engine.connect() as conn:
            clear = conn.execute(
                text("SELECT payload IS NULL, payload_enc FROM notification_events WHERE id = :i"),
                {"i": new_id},
            ).one()
        assert clear[0] and clear[1] is not None
    finally:
        engine.dispose()


def test_0030_is_not_undone_over_sealed_values_and_is_undone_without(
    scratch_url: str, clock: ManualClock
) -> None:
    upgrade(scratch_url, AFTER)
    downgrade(scratch_url, BEFORE)  # nothing sealed yet: undone
    upgrade(scratch_url, AFTER)
    engine = make_engine(scratch_url)
    try:
        with engine.begin() as conn:
            enqueue(
                conn, cipher=CIPHER, merchant_id="mer_a", type="payin.succeeded",
                object_id="pay_1", payload={"order_id": "pay_1"}, now=clock.now(),
            )  # fmt: skip
    finally:
        engine.dispose()

    with pytest.raises(RuntimeError, match=r"notification_events\.payload_enc holds 1 sealed"):
        downgrade(scratch_url, BEFORE)
