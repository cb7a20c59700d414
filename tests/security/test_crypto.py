"""Field encryption: values round-trip, cannot be altered or moved, and survive key rotation."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.platform.config import Settings
from paycore.security.crypto import (
    FieldCipher,
    FieldKeysInvalid,
    TamperedCiphertext,
    UnknownKeyId,
    load_field_cipher,
    new_field_key,
)

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(1, 33))
CONTEXT = "payin:pay_123:card_number"


def settings(tmp_path: Path, **fields: str) -> Settings:
    return Settings(
        database_url="sqlite://", expiry_interval_s=1.0, data_dir=str(tmp_path), **fields
    )


@given(st.text(max_size=200), st.text(min_size=1, max_size=80))
def test_a_value_decrypts_to_itself_in_its_own_context(value: str, context: str) -> None:
    cipher = FieldCipher({"k1": KEY_1}, "k1")

    assert cipher.decrypt(cipher.encrypt(value, context=context), context=context) == value


def test_a_token_names_its_key_and_never_shows_the_value() -> None:
    cipher = FieldCipher({"k1": KEY_1}, "k1")

    token = cipher.encrypt("6228480012345678", context=CONTEXT)

    assert token.startswith("k1:")
    assert "6228480012345678" not in token
    assert "12345678" not in base64.b64decode(token[3:]).decode("latin-1")


def test_the_same_value_encrypts_differently_each_time() -> None:
    cipher = FieldCipher({"k1": KEY_1}, "k1")

    assert cipher.encrypt("138", context=CONTEXT) != cipher.encrypt("138", context=CONTEXT)


def test_a_value_moved_to_another_row_or_field_does_not_decrypt() -> None:
    cipher = FieldCipher({"k1": KEY_1}, "k1")
    token = cipher.encrypt("6228480012345678", context="payin:pay_1:card_number")

    for other in ("payin:pay_2:card_number", "payin:pay_1:phone"):
        with pytest.raises(TamperedCiphertext):
            cipher.decrypt(token, context=other)


@pytest.mark.parametrize("position", [0, 5, 12, 20, -1])
def test_a_flipped_bit_anywhere_is_detected(position: int) -> None:
    cipher = FieldCipher({"k1": KEY_1}, "k1")
    raw = bytearray(base64.b64decode(cipher.encrypt("张三", context=CONTEXT)[3:]))
    raw[position] ^= 0x01
    tampered = "k1:" + base64.b64encode(bytes(raw)).decode()

    with pytest.raises(TamperedCiphertext):
        cipher.decrypt(tampered, context=CONTEXT)


@pytest.mark.parametrize("token", ["no-colon", "k1:not base64!", "k1:AAAA", "k1:"])
def test_a_malformed_token_is_refused_as_tampered(token: str) -> None:
    with pytest.raises(TamperedCiphertext):
        FieldCipher({"k1": KEY_1}, "k1").decrypt(token, context=CONTEXT)


def test_a_token_of_an_unknown_key_is_refused_by_name() -> None:
    token = FieldCipher({"old": KEY_1}, "old").encrypt("x", context=CONTEXT)

    with pytest.raises(UnknownKeyId, match="old"):
        FieldCipher({"new": KEY_2}, "new").decrypt(token, context=CONTEXT)


def test_after_rotation_old_values_still_decrypt_and_new_ones_use_the_new_key() -> None:
    before = FieldCipher({"k1": KEY_1}, "k1")
    old_token = before.encrypt("13812345678", context=CONTEXT)
    after = FieldCipher({"k1": KEY_1, "k2": KEY_2}, "k2")

    new_token = after.encrypt("13812345678", context=CONTEXT)
    rotated = after.reencrypt(old_token, context=CONTEXT)

    assert after.decrypt(old_token, context=CONTEXT) == "13812345678"
    assert new_token.startswith("k2:") and after.needs_rotation(old_token)
    assert rotated.startswith("k2:") and after.decrypt(rotated, context=CONTEXT) == "13812345678"
    assert not after.needs_rotation(rotated)


@pytest.mark.parametrize(
    ("keys", "active"),
    [({"k1": b"short"}, "k1"), ({"k1": KEY_1}, "k2"), ({"bad:id": KEY_1}, "bad:id")],
)
def test_unusable_keys_are_refused_at_construction(keys: dict[str, bytes], active: str) -> None:
    with pytest.raises(FieldKeysInvalid):
        FieldCipher(keys, active)


def test_configured_keys_are_parsed_and_the_last_one_is_active_by_default(tmp_path: Path) -> None:
    configured = f"k1:{base64.b64encode(KEY_1).decode()}, k2:{base64.b64encode(KEY_2).decode()}"

    default = load_field_cipher(settings(tmp_path, field_keys=configured))
    chosen = load_field_cipher(settings(tmp_path, field_keys=configured, field_key_id="k1"))

    assert default.active_key_id == "k2" and default.key_ids == {"k1", "k2"}
    assert chosen.active_key_id == "k1"
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize(
    "configured", ["k1", "k1:%%%", " , ", f"k1:{base64.b64encode(b'x').decode()}"]
)
def test_malformed_configured_keys_stop_the_start(tmp_path: Path, configured: str) -> None:
    with pytest.raises(FieldKeysInvalid):
        load_field_cipher(settings(tmp_path, field_keys=configured))


def test_without_configured_keys_a_private_development_key_is_made_once_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="paycore.security.crypto"):
        first = load_field_cipher(settings(tmp_path))
    second = load_field_cipher(settings(tmp_path))
    path = tmp_path / "keys" / "field-keys.json"

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert second.decrypt(first.encrypt("x", context=CONTEXT), context=CONTEXT) == "x"
    assert "development" in caplog.text.lower()
    assert json.loads(path.read_text())["active"] == first.active_key_id
    assert [p.name for p in path.parent.iterdir()] == ["field-keys.json"]


def test_a_development_key_file_readable_by_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_field_cipher(settings(tmp_path))
    path = tmp_path / "keys" / "field-keys.json"
    os.chmod(path, 0o644)

    with caplog.at_level(logging.WARNING, logger="paycore.security.crypto"):
        load_field_cipher(settings(tmp_path))

    assert "chmod 600" in caplog.text


def test_a_new_field_key_is_32_random_bytes_in_base64() -> None:
    assert len(base64.b64decode(new_field_key())) == 32
    assert new_field_key() != new_field_key()


def test_the_cipher_never_shows_its_keys_in_its_repr() -> None:
    shown = repr(FieldCipher({"k1": KEY_1}, "k1"))

    assert (
        "k1" in shown and base64.b64encode(KEY_1).decode() not in shown and str(KEY_1) not in shown
    )
