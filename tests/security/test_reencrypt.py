"""The re-encryption job: every value moves to the active data key, resuming after a crash."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.merchants.service import Merchants
from paycore.payments import store as payments_store
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.security import envelope, reencrypt, store_keys
from paycore.security.crypto import FieldCipher, SubjectErased
from paycore.security.reencrypt import BatchDone, reencrypt_all, values_per_key
from tests.security.conftest_keys import (  # noqa: F401
    STATIC_KEY,
    bound_cipher_fixture,
    file_provider_fixture,
    key_tables_fixture,
)

SECRETS = "merchants.webhook_secret_enc"


def _merchants(engine: Engine, cipher: FieldCipher, clock: ManualClock, n: int) -> dict[str, str]:
    service = Merchants(engine, cipher, clock=clock)
    return {
        merchant.id: secret
        for merchant, secret in (
            service.create(name=f"m{i}", webhook_url="https://example.test/h") for i in range(n)
        )
    }


def _secrets(engine: Engine, cipher: FieldCipher, ids: list[str]) -> dict[str, str]:
    service = Merchants(engine, cipher)
    return {i: service.webhook_endpoint(i).secret for i in ids}  # type: ignore[union-attr]


def test_every_value_moves_to_the_new_data_key_and_still_decrypts(
    bound_cipher: FieldCipher, key_tables: Engine, clock: ManualClock
) -> None:
    static = FieldCipher({"old1": STATIC_KEY}, "old1")
    created = _merchants(key_tables, static, clock, 2)
    created |= _merchants(key_tables, bound_cipher, clock, 3)
    new_dek = bound_cipher.keyring.create_dek()
    waited: list[float] = []

    moved = reencrypt_all(key_tables, bound_cipher, clock=clock, wait=waited.append)

    assert moved == 5
    assert waited == [envelope.REFRESH_S]  # servers switch keys before the sweep starts
    assert values_per_key(key_tables)[SECRETS] == {new_dek: 5}
    assert _secrets(key_tables, bound_cipher, list(created)) == created


def test_a_crashed_run_resumes_after_its_last_committed_batch(
    bound_cipher: FieldCipher,
    key_tables: Engine,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reencrypt, "BATCH_ROWS", 2)
    created = _merchants(key_tables, bound_cipher, clock, 5)
    new_dek = bound_cipher.keyring.create_dek()
    clock.advance(envelope.REFRESH_S)
    first: list[BatchDone] = []
    second: list[BatchDone] = []

    reencrypt_all(key_tables, bound_cipher, clock=clock, on_batch=first.append,
                  stop_after_batches=len(reencrypt.COLUMNS))  # fmt: skip
    assert values_per_key(key_tables)[SECRETS][new_dek] == 2
    moved = reencrypt_all(key_tables, bound_cipher, clock=clock, on_batch=second.append)

    # four empty columns first, then one batch of the merchants' secrets: the "crash"
    assert [b.rows_done for b in first if b.column == SECRETS] == [2]
    assert [b.rows_done for b in second if b.column == SECRETS] == [4, 5]
    assert moved == 3
    assert values_per_key(key_tables)[SECRETS] == {new_dek: 5}
    assert _secrets(key_tables, bound_cipher, list(created)) == created


def test_a_value_rewritten_by_the_server_after_the_sweep_read_it_is_left_as_written(
    bound_cipher: FieldCipher, key_tables: Engine, clock: ManualClock
) -> None:
    (merchant_id,) = _merchants(key_tables, bound_cipher, clock, 1)
    spec = next(c for c in reencrypt.COLUMNS if c.name == SECRETS)
    with key_tables.connect() as conn:
        (row,) = store_keys.encrypted_batch(
            conn, spec.table, key_columns=spec.key_columns, column=spec.column,
            after=None, limit=10,
        )  # fmt: skip
    bound_cipher.keyring.create_dek()
    rewritten = Merchants(key_tables, bound_cipher, clock=clock).set_webhook(
        merchant_id, "https://example.test/new"
    )

    with key_tables.begin() as conn:
        replaced = store_keys.replace_encrypted(
            conn, spec.table, key_columns=spec.key_columns, key=(merchant_id,),
            column=spec.column, old=row[-1], new="stale",
        )  # fmt: skip

    assert replaced is False
    assert _secrets(key_tables, bound_cipher, [merchant_id]) == {merchant_id: rewritten}


def test_the_order_party_fields_move_field_by_field_and_a_subject_keeps_its_key(
    bound_cipher: FieldCipher, key_tables: Engine, clock: ManualClock
) -> None:
    (merchant_id,) = _merchants(key_tables, bound_cipher, clock, 1)
    party = {
        "card_number": FieldCipher({"old1": STATIC_KEY}, "old1").encrypt(
            "6228480012345678", context="pay_1:card_number"
        ),
        "name": bound_cipher.encrypt("张三", context="pay_1:name", subject="payer-a"),
    }
    order = Order(
        id="pay_1", kind=OrderKind.PAYIN, merchant_id=merchant_id, product="p", amount=100,
        currency="CNY", status=OrderStatus.CREATED, created_at=clock.now(),
        updated_at=clock.now(), party_enc=party,
    )  # fmt: skip
    with key_tables.begin() as conn:
        payments_store.insert_order(conn, order)
    new_dek = bound_cipher.keyring.create_dek()
    clock.advance(envelope.REFRESH_S)

    assert reencrypt_all(key_tables, bound_cipher, clock=clock) == 3  # 2 fields + 1 secret
    with key_tables.connect() as conn:
        moved = payments_store.get_order(conn, "pay_1")
    assert moved is not None
    assert values_per_key(key_tables)["payment_orders.party_enc"] == {new_dek: 2}
    card = bound_cipher.decrypt(moved.party_enc["card_number"], context="pay_1:card_number")
    assert card == "6228480012345678"
    bound_cipher.shred("payer-a")
    with pytest.raises(SubjectErased):
        bound_cipher.decrypt(moved.party_enc["name"], context="pay_1:name")
