"""The PKCS#11 provider on a private SoftHSM2 token: non-extractable KEKs that wrap DEKs."""

from __future__ import annotations

import pkcs11
import pytest
from sqlalchemy import Engine

from paycore.security.crypto import FieldCipher
from paycore.security.keys import KeyProviderError, Pkcs11KeyProvider
from tests.security.conftest_keys import (  # noqa: F401
    STATIC_KEY,
    key_tables_fixture,
    pkcs11_provider_fixture,
    softhsm_token_fixture,
)


def test_a_kek_on_the_token_cannot_be_extracted(pkcs11_provider: Pkcs11KeyProvider) -> None:
    kek_id = pkcs11_provider.create_kek()
    key = pkcs11_provider._session.get_key(label=f"paycore-{kek_id}")

    assert key[pkcs11.Attribute.EXTRACTABLE] is False
    assert key[pkcs11.Attribute.SENSITIVE] is True
    with pytest.raises(pkcs11.PKCS11Error):
        key[pkcs11.Attribute.VALUE]


def test_the_newest_kek_is_the_active_one(pkcs11_provider: Pkcs11KeyProvider) -> None:
    first = pkcs11_provider.create_kek()
    second = pkcs11_provider.create_kek()

    assert pkcs11_provider.active_kek_id() == second
    assert {first, second} <= set(pkcs11_provider.kek_ids())


def test_a_wrapped_dek_unwraps_only_under_its_kek_and_label(
    pkcs11_provider: Pkcs11KeyProvider,
) -> None:
    kek_id = pkcs11_provider.active_kek_id()
    other = pkcs11_provider.create_kek()
    dek = bytes(range(32))
    wrapped = pkcs11_provider.wrap(dek, kek_id=kek_id, label="dek_A")

    assert dek not in wrapped
    assert pkcs11_provider.unwrap(wrapped, kek_id=kek_id, label="dek_A") == dek
    with pytest.raises(KeyProviderError):
        pkcs11_provider.unwrap(wrapped, kek_id=kek_id, label="dek_B")
    with pytest.raises(KeyProviderError):
        pkcs11_provider.unwrap(wrapped, kek_id=other, label="dek_A")
    with pytest.raises(KeyProviderError):
        pkcs11_provider.unwrap(wrapped, kek_id="kek_NOSUCH", label="dek_A")


def test_a_cipher_bound_with_the_token_encrypts_and_another_session_decrypts(
    pkcs11_provider: Pkcs11KeyProvider, softhsm_token: dict[str, str], key_tables: Engine
) -> None:
    cipher = FieldCipher({"k1": STATIC_KEY}, "k1", provider=pkcs11_provider).bind(key_tables)
    token = cipher.encrypt("6228480012345678", context="pay_1:card_number")
    second = Pkcs11KeyProvider(**softhsm_token)
    try:
        other = FieldCipher({"k1": STATIC_KEY}, "k1", provider=second).bind(key_tables)
        assert other.decrypt(token, context="pay_1:card_number") == "6228480012345678"
    finally:
        second.close()


def test_a_wrong_pin_is_a_provider_error(softhsm_token: dict[str, str]) -> None:
    with pytest.raises(KeyProviderError):
        Pkcs11KeyProvider(**{**softhsm_token, "pin": "0000"})
