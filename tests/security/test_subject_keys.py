"""Data-subject keys: crypto-shredding one person's values without touching anyone else's."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from paycore.security import envelope, store_keys
from paycore.security.crypto import FieldCipher, KeyStoreUnbound, SubjectErased
from paycore.security.keys import FileKeyProvider
from tests.security.conftest_keys import (  # noqa: F401
    STATIC_KEY,
    bound_cipher_fixture,
    file_provider_fixture,
    key_tables_fixture,
)

CONTEXT = "pay_1:name"


def test_a_subjects_value_decrypts_until_the_subject_is_shredded(
    bound_cipher: FieldCipher,
) -> None:
    mine = bound_cipher.encrypt("张三", context=CONTEXT, subject="payer-a")
    theirs = bound_cipher.encrypt("李四", context=CONTEXT, subject="payer-b")
    plain = bound_cipher.encrypt("王五", context=CONTEXT)

    assert mine.startswith("$2$") and bound_cipher.decrypt(mine, context=CONTEXT) == "张三"
    assert bound_cipher.shred("payer-a") is True
    with pytest.raises(SubjectErased):
        bound_cipher.decrypt(mine, context=CONTEXT)
    assert bound_cipher.decrypt(theirs, context=CONTEXT) == "李四"
    assert bound_cipher.decrypt(plain, context=CONTEXT) == "王五"


def test_shredding_a_subject_without_a_key_says_so(bound_cipher: FieldCipher) -> None:
    assert bound_cipher.shred("nobody") is False


def test_a_shredded_row_keeps_neither_the_salt_nor_the_subject(
    bound_cipher: FieldCipher, key_tables: Engine
) -> None:
    key_id = bound_cipher.ensure_subject("payer-a")
    bound_cipher.shred("payer-a")

    with key_tables.connect() as conn:
        row = conn.execute(select(store_keys.subject_keys)).one()
    assert (row.id, row.subject, row.salt) == (key_id, None, None)
    assert row.shredded_at is not None


def test_a_subject_gets_one_key_and_a_new_one_after_being_shredded(
    bound_cipher: FieldCipher,
) -> None:
    first = bound_cipher.ensure_subject("payer-a")
    assert bound_cipher.ensure_subject("payer-a") == first
    bound_cipher.shred("payer-a")

    again = bound_cipher.encrypt("张三", context=CONTEXT, subject="payer-a")
    assert bound_cipher.ensure_subject("payer-a") != first
    assert bound_cipher.decrypt(again, context=CONTEXT) == "张三"


def test_another_process_stops_decrypting_a_shredded_subject_after_its_cache_period(
    bound_cipher: FieldCipher, key_tables: Engine, file_provider: FileKeyProvider
) -> None:
    now = [0.0]
    other = FieldCipher({"old1": STATIC_KEY}, "old1", provider=file_provider)
    other._keyring = envelope.Keyring(key_tables, file_provider, monotonic=lambda: now[0])
    token = bound_cipher.encrypt("张三", context=CONTEXT, subject="payer-a")
    assert other.decrypt(token, context=CONTEXT) == "张三"

    bound_cipher.shred("payer-a")
    assert other.decrypt(token, context=CONTEXT) == "张三"  # within the cache period
    now[0] += envelope.SUBJECT_CACHE_S
    with pytest.raises(SubjectErased):
        other.decrypt(token, context=CONTEXT)


def test_a_subject_value_survives_data_key_rotation_under_the_same_subject_key(
    bound_cipher: FieldCipher,
) -> None:
    token = bound_cipher.encrypt("张三", context=CONTEXT, subject="payer-a")
    bound_cipher.keyring.create_dek()
    moved = bound_cipher.reencrypt(token, context=CONTEXT)

    assert moved.split("$")[3] == token.split("$")[3]
    assert not bound_cipher.needs_rotation(moved)
    bound_cipher.shred("payer-a")
    with pytest.raises(SubjectErased):
        bound_cipher.decrypt(moved, context=CONTEXT)


def test_an_unbound_cipher_refuses_a_subject() -> None:
    with pytest.raises(KeyStoreUnbound):
        FieldCipher({"k1": STATIC_KEY}, "k1").encrypt("x", context=CONTEXT, subject="payer-a")


@pytest.mark.parametrize("subject", ["", "x" * 129])
def test_an_empty_or_overlong_subject_is_refused(bound_cipher: FieldCipher, subject: str) -> None:
    with pytest.raises(ValueError, match="1-128 characters"):
        bound_cipher.encrypt("张三", context=CONTEXT, subject=subject)


def test_an_erased_value_is_left_as_it_is_by_a_reencryption_sweep(
    bound_cipher: FieldCipher,
) -> None:
    erased = bound_cipher.encrypt("张三", context=CONTEXT, subject="payer-a")
    bound_cipher.shred("payer-a")
    bound_cipher.keyring.create_dek()

    assert bound_cipher.needs_rotation(erased)
    assert bound_cipher.reencrypt(erased, context=CONTEXT) == erased
