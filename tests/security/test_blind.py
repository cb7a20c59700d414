"""The blind index's tokens: normalization, kinds kept apart, keys and rotation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.security.blind import (
    BlindIndexer,
    BlindKeyInvalid,
    load_blind_indexer,
    new_blind_key,
    normalize,
)

CARD = "6222021234567890123"
ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"


def indexer(*key_ids: str) -> BlindIndexer:
    ids = key_ids or ("k1",)
    return BlindIndexer({k: os.urandom(32) for k in ids}, ids[-1])


@pytest.mark.parametrize(
    ("kind", "typed", "plain"),
    [
        ("card_number", "6222 0212 3456 7890 123", CARD),
        ("card_number", "6222-0212-3456-7890-123", CARD),
        ("id_number", "11010519491231002x", ID_NUMBER),
        ("id_number", "110105 19491231 002X", ID_NUMBER),
        ("phone", "+86 138 1234 5678", PHONE),
        ("phone", "0086-138-1234-5678", PHONE),
        ("phone", "(+86) 13812345678", PHONE),
        ("account_number", "gb29 nwbk 6016 1331 9268 19", "GB29NWBK60161331926819"),
    ],
)
def test_a_number_written_two_ways_gets_one_token(kind: str, typed: str, plain: str) -> None:
    blind = indexer()
    assert blind.lookup_tokens(kind, typed) == blind.lookup_tokens(kind, plain)  # type: ignore[arg-type]


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_a_phone_and_a_card_with_the_same_digits_never_share_a_token(digits: str) -> None:
    blind = BlindIndexer({"k1": b"\x01" * 32}, "k1")
    phone = blind.lookup_tokens("phone", digits)
    account = blind.lookup_tokens("account_number", digits)
    assert set(phone).isdisjoint(account)


@given(st.from_regex(r"[0-9]{12,19}", fullmatch=True))
def test_a_token_never_contains_the_number(card: str) -> None:
    token = BlindIndexer({"k1": b"\x02" * 32}, "k1").token("card_number", card)
    assert card not in token
    assert token.startswith("k1:")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("card_number", "6222 02AB 3456"),
        ("card_number", "12345"),
        ("id_number", "11010519491231002Y"),
        ("phone", "+44 7911 123456"),
        ("phone", "1381234567"),
        ("account_number", "ab"),
    ],
)
def test_something_that_is_not_such_a_number_is_refused_without_quoting_it(
    kind: str, value: str
) -> None:
    with pytest.raises(Rejected) as refused:
        normalize(kind, value)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_lookup_value"
    assert value not in refused.value.detail


def test_after_a_rotation_a_lookup_still_finds_tokens_of_the_old_key() -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    before = BlindIndexer({"k1": old_key}, "k1")
    after = BlindIndexer({"k1": old_key, "k2": new_key}, "k2")
    written_before = before.token("card_number", CARD)
    assert written_before in after.lookup_tokens("card_number", CARD)
    assert after.token("card_number", CARD) != written_before
    assert after.token("card_number", CARD).startswith("k2:")


def test_without_a_key_a_private_development_key_is_made_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = load_blind_indexer("", tmp_path)
    second = load_blind_indexer("", tmp_path)
    path = tmp_path / "keys" / "blind-index-key.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.token("phone", PHONE) == second.token("phone", PHONE)
    assert "PAYCORE_BLIND_INDEX_KEY is empty" in caplog.text


def test_a_configured_key_is_used_as_given_and_the_last_of_a_list_writes(tmp_path: Path) -> None:
    one, two = new_blind_key(), new_blind_key()
    single = load_blind_indexer(one, tmp_path)
    listed = load_blind_indexer(f"old:{one},new:{two}", tmp_path)
    assert single.active_key_id == "b1"
    assert listed.active_key_id == "new"
    assert single.token("phone", PHONE).split(":")[1] in {
        t.split(":")[1] for t in listed.lookup_tokens("phone", PHONE)
    }
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize("text", ["k1:not-base64!", "k1:" + "QUFB", "no-colon,k2:QUFB"])
def test_an_unusable_key_stops_the_start(text: str, tmp_path: Path) -> None:
    with pytest.raises(BlindKeyInvalid):
        load_blind_indexer(text, tmp_path)
