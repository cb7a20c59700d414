"""KEK rotation: every DEK is rewrapped under the new KEK, the data is not touched."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from paycore.merchants.service import Merchants
from paycore.merchants.store import merchants
from paycore.security import store_keys
from paycore.security.crypto import FieldCipher
from paycore.security.keys import FileKeyProvider, KeyProvider, Pkcs11KeyProvider
from tests.security.conftest_keys import (  # noqa: F401
    STATIC_KEY,
    key_tables_fixture,
    pkcs11_provider_fixture,
    softhsm_token_fixture,
)

CONTEXT = "pay_1:phone"


def _rotate_and_forget_the_old_kek(provider: KeyProvider, engine: Engine) -> None:
    cipher = FieldCipher({"k1": STATIC_KEY}, "k1", provider=provider).bind(engine)
    first_dek = cipher.keyring.active().id
    second_dek = cipher.keyring.create_dek()
    tokens = {
        first_dek: cipher.reencrypt(
            FieldCipher({"k1": STATIC_KEY}, "k1").encrypt("13812345678", context=CONTEXT),
            context=CONTEXT,
        ),
        second_dek: cipher.encrypt("13912345678", context=CONTEXT),
    }
    old_kek = provider.active_kek_id()
    with engine.connect() as conn:
        wrapped_before = {r.id: r.wrapped for r in store_keys.all_data_keys(conn)}

    new_kek, rewrapped = cipher.keyring.rotate_kek()
    destroyed = cipher.keyring.destroy_unused_keks()

    assert rewrapped == 2 and old_kek in destroyed and new_kek != old_kek
    assert provider.kek_ids() == [new_kek]
    with engine.connect() as conn:
        rows = store_keys.all_data_keys(conn)
    assert {r.kek_id for r in rows} == {new_kek}
    assert all(wrapped_before[r.id] != r.wrapped for r in rows)
    fresh = FieldCipher({"k1": STATIC_KEY}, "k1", provider=provider).bind(engine)
    assert fresh.decrypt(tokens[first_dek], context=CONTEXT) == "13812345678"
    assert fresh.decrypt(tokens[second_dek], context=CONTEXT) == "13912345678"


def test_a_rotated_file_kek_can_be_destroyed_and_every_value_still_decrypts(
    key_tables: Engine, tmp_path: Path
) -> None:
    provider = FileKeyProvider(tmp_path / "kek.json")
    _rotate_and_forget_the_old_kek(provider, key_tables)


def test_a_rotated_token_kek_can_be_destroyed_and_every_value_still_decrypts(
    key_tables: Engine, pkcs11_provider: Pkcs11KeyProvider
) -> None:
    _rotate_and_forget_the_old_kek(pkcs11_provider, key_tables)


def test_kek_rotation_rewrites_no_stored_value(key_tables: Engine, tmp_path: Path) -> None:
    provider = FileKeyProvider(tmp_path / "kek.json")
    cipher = FieldCipher({"k1": STATIC_KEY}, "k1", provider=provider).bind(key_tables)
    merchant, secret = Merchants(key_tables, cipher).create(
        name="m", webhook_url="https://example.test/h"
    )
    with key_tables.connect() as conn:
        before = list(conn.execute(select(merchants.c.id, merchants.c.webhook_secret_enc)))

    cipher.keyring.rotate_kek()

    with key_tables.connect() as conn:
        assert list(conn.execute(select(merchants.c.id, merchants.c.webhook_secret_enc))) == before
    fresh = FieldCipher({"k1": STATIC_KEY}, "k1", provider=provider).bind(key_tables)
    endpoint = Merchants(key_tables, fresh).webhook_endpoint(merchant.id)
    assert endpoint is not None and endpoint.secret == secret
