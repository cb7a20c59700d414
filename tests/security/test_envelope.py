"""Envelope encryption: DEKs wrapped by a KEK, cached, and static-key tokens still read."""

from __future__ import annotations

import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.security import store_keys
from paycore.security.crypto import FieldCipher, TamperedCiphertext, UnknownKeyId, token_key_id
from paycore.security.keys import FileKeyProvider
from tests.security.conftest_keys import (  # noqa: F401
    STATIC_KEY,
    bound_cipher_fixture,
    file_provider_fixture,
    key_tables_fixture,
)

CONTEXT = "pay_1:card_number"


class CountingProvider(FileKeyProvider):
    """The file provider, counting unwraps (the token must not be called per value)."""

    unwraps = 0

    def unwrap(self, wrapped: bytes, *, kek_id: str, label: str) -> bytes:
        self.unwraps += 1
        return super().unwrap(wrapped, kek_id=kek_id, label=label)


def test_a_bound_cipher_writes_tokens_naming_their_data_key(bound_cipher: FieldCipher) -> None:
    token = bound_cipher.encrypt("6228480012345678", context=CONTEXT)

    assert token.startswith(f"$1${bound_cipher.keyring.active().id}$")
    assert ":" not in token
    assert bound_cipher.decrypt(token, context=CONTEXT) == "6228480012345678"


def test_static_key_tokens_still_decrypt_and_need_rotation_once_bound(
    bound_cipher: FieldCipher,
) -> None:
    old = FieldCipher({"old1": STATIC_KEY}, "old1").encrypt("张三", context=CONTEXT)

    assert old.startswith("old1:")
    assert bound_cipher.decrypt(old, context=CONTEXT) == "张三"
    assert bound_cipher.needs_rotation(old)
    moved = bound_cipher.reencrypt(old, context=CONTEXT)
    assert moved.startswith("$1$") and not bound_cipher.needs_rotation(moved)
    assert bound_cipher.decrypt(moved, context=CONTEXT) == "张三"


def test_the_data_key_is_stored_wrapped_never_in_clear(
    bound_cipher: FieldCipher, key_tables: Engine
) -> None:
    clear = bound_cipher.keyring.active().key
    with key_tables.connect() as conn:
        rows = store_keys.all_data_keys(conn)

    assert len(rows) == 1
    assert rows[0].kek_id == bound_cipher.keyring.provider.active_kek_id()
    assert clear.hex() not in rows[0].wrapped and clear not in rows[0].wrapped.encode()


def test_the_kek_file_is_readable_by_its_owner_only(
    bound_cipher: FieldCipher, file_provider: FileKeyProvider
) -> None:
    path = file_provider._path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_another_process_reads_values_with_one_unwrap_per_data_key(
    bound_cipher: FieldCipher, key_tables: Engine, file_provider: FileKeyProvider
) -> None:
    tokens = [bound_cipher.encrypt(f"1380000{n:04d}", context=CONTEXT) for n in range(20)]
    provider = CountingProvider(file_provider._path)
    other = FieldCipher({"old1": STATIC_KEY}, "old1", provider=provider).bind(key_tables)

    assert [other.decrypt(t, context=CONTEXT) for t in tokens] == [
        f"1380000{n:04d}" for n in range(20)
    ]
    assert provider.unwraps == 1


def test_a_token_moved_to_another_context_or_altered_does_not_decrypt(
    bound_cipher: FieldCipher,
) -> None:
    token = bound_cipher.encrypt("110101199003077777", context=CONTEXT)
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]

    with pytest.raises(TamperedCiphertext):
        bound_cipher.decrypt(token, context="pay_2:card_number")
    with pytest.raises(TamperedCiphertext):
        bound_cipher.decrypt(altered, context=CONTEXT)
    with pytest.raises(TamperedCiphertext):
        bound_cipher.decrypt("$9$x$y", context=CONTEXT)


def test_a_token_naming_an_unknown_data_key_is_refused(bound_cipher: FieldCipher) -> None:
    token = bound_cipher.encrypt("x", context=CONTEXT)
    forged = token.replace(bound_cipher.keyring.active().id, "dek_NOSUCHKEY")

    with pytest.raises(UnknownKeyId):
        bound_cipher.decrypt(forged, context=CONTEXT)


def test_an_unbound_cipher_refuses_envelope_tokens_but_keeps_static_ones(
    bound_cipher: FieldCipher,
) -> None:
    unbound = FieldCipher({"old1": STATIC_KEY}, "old1")

    with pytest.raises(UnknownKeyId):
        unbound.decrypt(bound_cipher.encrypt("x", context=CONTEXT), context=CONTEXT)
    assert unbound.encrypt("x", context=CONTEXT).startswith("old1:")


def test_a_rotated_data_key_takes_new_values_and_old_ones_still_decrypt(
    bound_cipher: FieldCipher, key_tables: Engine, clock: ManualClock
) -> None:
    before = bound_cipher.encrypt("13812345678", context=CONTEXT)
    old_dek = token_key_id(before)
    new_dek = bound_cipher.keyring.create_dek()
    after = bound_cipher.encrypt("13812345678", context=CONTEXT)

    assert token_key_id(after) == new_dek != old_dek
    assert bound_cipher.needs_rotation(before) and not bound_cipher.needs_rotation(after)
    assert bound_cipher.decrypt(before, context=CONTEXT) == "13812345678"
    with key_tables.connect() as conn:
        retired = {row.id: row.retired_at for row in store_keys.all_data_keys(conn)}
    assert retired == {old_dek: clock.now(), new_dek: None}


def test_binding_without_a_provider_keeps_the_static_keys(key_tables: Engine) -> None:
    cipher = FieldCipher({"old1": STATIC_KEY}, "old1").bind(key_tables)

    assert not cipher.bound
    assert cipher.encrypt("x", context=CONTEXT).startswith("old1:")


def test_derive_key_does_not_change_when_the_data_key_rotates(bound_cipher: FieldCipher) -> None:
    first = bound_cipher.derive_key("paycore/test")
    bound_cipher.keyring.create_dek()

    assert bound_cipher.derive_key("paycore/test") == first
    assert first == FieldCipher({"old1": STATIC_KEY}, "old1").derive_key("paycore/test")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.text(max_size=40),
    context=st.text(min_size=1, max_size=30),
    subject=st.none() | st.sampled_from(["payer-a", "payer-b"]),
)
def test_every_token_format_round_trips_and_is_told_apart_from_the_others(
    bound_cipher: FieldCipher, value: str, context: str, subject: str | None
) -> None:
    static = FieldCipher({"old1": STATIC_KEY}, "old1").encrypt(value, context=context)
    sealed = bound_cipher.encrypt(value, context=context, subject=subject)

    assert not static.startswith("$") and sealed.startswith("$2$" if subject else "$1$")
    assert bound_cipher.decrypt(static, context=context) == value
    assert bound_cipher.decrypt(sealed, context=context) == value
    assert token_key_id(sealed) == bound_cipher.keyring.active().id
    assert token_key_id(static) == "old1"
