"""Ed25519 signatures between paycore and a channel: what verifies and what is refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.channels import signing

PRIVATE = signing.generate_private_key()
PUBLIC = PRIVATE.public_key()
NOW = 1_800_000_000


def _signed(body: bytes = b'{"a":1}', **options: object) -> dict[str, str]:
    values: dict[str, object] = {
        "key_id": "paycore", "verb": "POST", "path": "/v1/payins", "body": body,
        "timestamp": NOW, "nonce": "n1",
    }  # fmt: skip
    values.update(options)
    return signing.sign(PRIVATE, **values)  # type: ignore[arg-type]


def _verify(headers: dict[str, str], body: bytes = b'{"a":1}', now_s: float = NOW) -> object:
    return signing.verify(PUBLIC, headers, verb="POST", path="/v1/payins", body=body, now_s=now_s)


def test_a_signed_message_verifies_and_says_who_signed_it() -> None:
    signed = _verify(_signed())

    assert signed == signing.SignedBy(key_id="paycore", timestamp=NOW, nonce="n1")


def test_a_tampered_body_is_a_bad_signature() -> None:
    with pytest.raises(signing.SignatureError) as refused:
        _verify(_signed(), body=b'{"a":2}')

    assert refused.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("field", "value"),
    [("verb", "GET"), ("path", "/v1/payouts"), ("nonce", "n2"), ("timestamp", NOW + 1)],
)
def test_a_signature_made_for_another_verb_path_nonce_or_time_does_not_verify(
    field: str, value: object
) -> None:
    other = _signed(**{field: value})
    headers = _signed()
    headers[signing.SIGNATURE_HEADER] = other[signing.SIGNATURE_HEADER]

    with pytest.raises(signing.SignatureError, match="bad_signature"):
        _verify(headers)


def test_a_signature_from_another_key_is_a_bad_signature() -> None:
    stranger = signing.generate_private_key()
    headers = signing.sign(
        stranger, key_id="paycore", verb="POST", path="/v1/payins", body=b'{"a":1}',
        timestamp=NOW, nonce="n1",
    )  # fmt: skip

    with pytest.raises(signing.SignatureError, match="bad_signature"):
        _verify(headers)


@pytest.mark.parametrize("skew_s", [-signing.REPLAY_WINDOW_S - 1, signing.REPLAY_WINDOW_S + 1])
def test_a_timestamp_outside_the_replay_window_is_stale(skew_s: int) -> None:
    with pytest.raises(signing.SignatureError) as refused:
        _verify(_signed(), now_s=NOW + skew_s)

    assert refused.value.code == "stale_signature"


def test_a_timestamp_at_the_edge_of_the_window_is_accepted() -> None:
    assert _verify(_signed(), now_s=NOW + signing.REPLAY_WINDOW_S)


@pytest.mark.parametrize(
    "missing", [signing.SIGNATURE_HEADER, signing.TIMESTAMP_HEADER, signing.NONCE_HEADER]
)
def test_a_message_without_its_signature_headers_is_a_bad_signature(missing: str) -> None:
    headers = _signed()
    del headers[missing]

    with pytest.raises(signing.SignatureError, match="bad_signature"):
        _verify(headers)


@pytest.mark.parametrize("garbage", ["not base64!", "", "AAAA"])
def test_a_garbled_signature_is_a_bad_signature(garbage: str) -> None:
    headers = _signed()
    headers[signing.SIGNATURE_HEADER] = garbage

    with pytest.raises(signing.SignatureError, match="bad_signature"):
        _verify(headers)


def test_headers_are_found_whatever_their_case() -> None:
    headers = {name.lower(): value for name, value in _signed().items()}

    assert _verify(headers)


@given(body=st.binary(max_size=512), flip=st.integers(min_value=0, max_value=511))
def test_changing_any_byte_of_any_body_breaks_the_signature(body: bytes, flip: int) -> None:
    headers = _signed(body=body)
    assert _verify(headers, body=body)
    if body:
        index = flip % len(body)
        changed = body[:index] + bytes([body[index] ^ 1]) + body[index + 1 :]
        with pytest.raises(signing.SignatureError):
            _verify(headers, body=changed)


def test_keys_round_trip_through_pem_files_and_the_private_one_is_owner_only(
    tmp_path: Path,
) -> None:
    signing.save_private_key(PRIVATE, tmp_path / "k.pem")
    signing.save_public_key(PUBLIC, tmp_path / "k.pub.pem")
    private = signing.load_private_key(tmp_path / "k.pem")
    public = signing.load_public_key(tmp_path / "k.pub.pem")
    headers = signing.sign(private, key_id="x", verb="GET", path="/", body=b"", timestamp=NOW)

    assert signing.verify(public, headers, verb="GET", path="/", body=b"", now_s=NOW)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600


def test_a_public_key_file_is_not_accepted_as_a_private_key(tmp_path: Path) -> None:
    signing.save_public_key(PUBLIC, tmp_path / "k.pub.pem")

    with pytest.raises(ValueError):
        signing.load_private_key(tmp_path / "k.pub.pem")


def test_the_nonce_guard_refuses_a_nonce_it_saw_within_the_window() -> None:
    guard = signing.NonceGuard(window_s=10)

    assert guard.first_use("paycore", "n1", now_s=0)
    assert not guard.first_use("paycore", "n1", now_s=15)
    assert guard.first_use("other-merchant", "n1", now_s=15)


def test_the_nonce_guard_forgets_nonces_once_they_are_older_than_twice_the_window() -> None:
    guard = signing.NonceGuard(window_s=10)
    guard.first_use("paycore", "n1", now_s=0)
    guard.first_use("paycore", "n2", now_s=20)  # rotates: n1 is kept one more generation

    assert not guard.first_use("paycore", "n1", now_s=21)
    guard.first_use("paycore", "n3", now_s=40)  # rotates again: n1 is gone

    assert guard.first_use("paycore", "n1", now_s=41)


@pytest.mark.parametrize("timestamp", ["²", "\u0661\u0668" + "\u0660" * 8, f"{NOW}\n"])
def test_a_timestamp_that_is_not_ascii_digits_is_a_bad_signature(timestamp: str) -> None:
    headers = _signed()
    headers[signing.TIMESTAMP_HEADER] = timestamp

    with pytest.raises(signing.SignatureError) as refused:
        _verify(headers)

    assert refused.value.code == "bad_signature"
