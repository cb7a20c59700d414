"""Re-encryption reaches every sealed column that may be rewritten (the stored answers and
webhook bodies too), and leaves alone the append-only ones, whose data keys keys-status
still counts so that no one retires a key they need."""

from __future__ import annotations

from sqlalchemy import Engine, select

from paycore.clock import ManualClock
from paycore.notifications.service import enqueue
from paycore.notifications.store import events
from paycore.payments import store_idempotency
from paycore.security import envelope
from paycore.security.audit import AuditEntry
from paycore.security.crypto import FieldCipher, token_key_id
from paycore.security.reencrypt import KEPT_COLUMNS, reencrypt_all, values_per_key
from paycore.security.reveal import AuditLog
from tests.security.conftest_keys import (  # noqa: F401
    bound_cipher_fixture,
    file_provider_fixture,
    key_tables_fixture,
)

ANSWER = {"id": "pay_1", "status": "processing"}
PAYLOAD = {"order_id": "pay_1", "description": "November rent"}


def _sealed_copies_and_a_reveal(engine: Engine, cipher: FieldCipher, clock: ManualClock) -> None:
    with engine.begin() as conn:
        store_idempotency.claim_idempotency_key(
            conn, merchant_id="m1", key="k1", request_hash="h", object_id="pay_1",
            now=clock.now(),
        )  # fmt: skip
        store_idempotency.save_idempotent_response(
            conn, cipher=cipher, merchant_id="m1", key="k1", status_code=201, response=ANSWER
        )
        enqueue(
            conn, cipher=cipher, merchant_id="m1", type="payin.succeeded", object_id="pay_1",
            payload=PAYLOAD, now=clock.now(),
        )  # fmt: skip
    entry = AuditEntry(
        at=clock.now(), actor_key_id="key_1", merchant_id=None, action="reveal",
        object_type="payin", object_id="pay_1", fields=("card_number",),
        reason="the payer disputes the charge", request_id="req_1",
    )  # fmt: skip
    AuditLog(engine, clock, cipher=cipher).record(entry)


def test_stored_answers_and_webhook_bodies_move_to_the_new_key_and_audit_reasons_stay(
    bound_cipher: FieldCipher, key_tables: Engine, clock: ManualClock
) -> None:
    _sealed_copies_and_a_reveal(key_tables, bound_cipher, clock)
    old_dek = bound_cipher.keyring.active().id
    new_dek = bound_cipher.keyring.create_dek()
    clock.advance(envelope.REFRESH_S)

    reencrypt_all(key_tables, bound_cipher, clock=clock)

    counts = values_per_key(key_tables)
    assert counts["idempotency_keys.response_enc"] == {new_dek: 1}
    assert counts["notification_events.payload_enc"] == {new_dek: 1}
    assert counts["audit_log.reason_enc"] == {old_dek: 1}  # never rewritten: still needed
    with key_tables.connect() as conn:
        row = store_idempotency.claim_idempotency_key(
            conn, merchant_id="m1", key="k1", request_hash="h", object_id="pay_1",
            now=clock.now(),
        )  # fmt: skip
        sealed = conn.execute(select(events.c.payload_enc)).scalar_one()
    assert row is not None and store_idempotency.stored_response(bound_cipher, row) == ANSWER
    assert token_key_id(sealed) == new_dek
    assert AuditLog(key_tables, clock, cipher=bound_cipher).verify().broken is None


def test_the_append_only_sealed_columns_are_counted_and_never_swept() -> None:
    assert {c.name for c in KEPT_COLUMNS} == {
        "audit_log.reason_enc",
        "aml_case_events.note_enc",
    }
