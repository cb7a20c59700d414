"""The API key rules called directly: what each scope lets a principal do and see, which
scopes a new key gets, labels and presented keys at exactly their limits and one past, and
the shape of a key and its secret."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from paycore.errors import Rejected
from paycore.security import model
from paycore.security.model import EXPLICIT_SCOPES, ApiKey, Principal, Scope, Unauthenticated

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "a" * 52


def _principal(*scopes: str, merchant_id: str | None = "m1") -> Principal:
    return Principal(key_id="key_1", merchant_id=merchant_id, scopes=frozenset(scopes))


def test_a_principal_can_use_only_its_own_scopes_unless_it_is_admin() -> None:
    reader = _principal(Scope.PAYMENTS_READ)
    admin = _principal(Scope.ADMIN, merchant_id=None)

    assert (reader.can(Scope.PAYMENTS_READ), reader.can(Scope.PAYMENTS_WRITE)) == (True, False)
    assert (reader.is_admin, admin.is_admin) == (False, True)
    assert all(admin.can(scope) for scope in Scope if scope not in EXPLICIT_SCOPES)
    assert not admin.can(Scope.PII_REVEAL)  # seeing clear personal data is its own grant


def test_a_merchant_principal_sees_only_its_own_objects_and_a_platform_one_sees_all() -> None:
    merchant, platform = _principal(), _principal(merchant_id=None)

    assert (merchant.sees("m1"), merchant.sees("m2"), merchant.sees(None)) == (True, False, False)
    assert (platform.sees("m1"), platform.sees(None)) == (True, True)


def test_a_stored_key_acts_as_its_merchant_with_its_scopes_until_revoked() -> None:
    key = ApiKey("key_1", "m1", frozenset({"payments:read"}), "ci", T0)

    assert key.principal() == Principal("key_1", "m1", frozenset({"payments:read"}))
    assert key.revoked is False
    assert ApiKey("key_1", "m1", frozenset(), "ci", T0, revoked_at=T0).revoked is True


def test_an_unauthenticated_refusal_says_the_same_whatever_went_wrong() -> None:
    refused = Unauthenticated()

    assert (refused.code, refused.detail) == ("unauthenticated", "a valid API key is required")
    assert Unauthenticated("expired").detail == "expired"


def test_scopes_are_parsed_once_each_and_an_unknown_one_is_named() -> None:
    assert model.parse_scopes(["admin", "admin", "ledger:read"]) == {"admin", "ledger:read"}
    with pytest.raises(Rejected) as refused:
        model.parse_scopes(["payments:read", "payments:delete"])

    assert refused.value.code == "unknown_scope"
    assert "'payments:delete'" in refused.value.detail


@pytest.mark.parametrize(
    ("merchant_id", "names", "scopes"),
    [
        ("m1", None, model.DEFAULT_MERCHANT_SCOPES),
        ("m1", ["ledger:read"], {"ledger:read"}),
        (None, ["admin"], {"admin"}),
        (None, ["ledger:write", "ledger:read"], {"ledger:write", "ledger:read"}),
    ],
)
def test_a_new_key_gets_the_scopes_it_names_or_a_merchant_keys_defaults(
    merchant_id: str | None, names: list[str] | None, scopes: set[str]
) -> None:
    assert model.scopes_for_new_key(merchant_id, names) == scopes


@pytest.mark.parametrize(
    ("merchant_id", "names", "code"),
    [
        (None, None, "scopes_required"),
        (None, [], "scopes_required"),
        ("m1", [], "scopes_required"),
        ("m1", ["admin"], "admin_scope_needs_platform_key"),
        ("m1", ["payments:read", "admin"], "admin_scope_needs_platform_key"),
        ("m1", ["root"], "unknown_scope"),
    ],
)
def test_a_new_key_without_scopes_or_a_merchant_key_with_admin_is_refused(
    merchant_id: str | None, names: list[str] | None, code: str
) -> None:
    with pytest.raises(Rejected) as refused:
        model.scopes_for_new_key(merchant_id, names)

    assert refused.value.code == code


def test_a_label_is_at_most_two_hundred_characters() -> None:
    assert model.check_label("l" * 200) == "l" * 200
    with pytest.raises(Rejected) as refused:
        model.check_label("l" * 201)

    assert refused.value.code == "label_too_long"


def test_a_secret_is_thirty_two_random_bytes_in_lowercase_base32() -> None:
    secrets = {model.new_secret() for _ in range(20)}

    assert len(secrets) == 20
    for secret in secrets:
        assert len(secret) == 52 and secret == secret.lower()
        assert len(base64.b32decode(secret.upper() + "====")) == 32


def test_a_key_is_its_prefix_its_id_and_its_secret() -> None:
    assert model.format_key("key_01J", SECRET) == f"pk_key_01J_{SECRET}"


@pytest.mark.parametrize(
    ("presented", "parts"),
    [
        (f"pk_key_01J_{SECRET}", ("key_01J", SECRET)),
        (f"pk_k_{'Z9' * 26}", ("k", "Z9" * 26)),
        ("pk_" + "k" * (200 - 3 - 53) + f"_{SECRET}", ("k" * 144, SECRET)),
        ("pk_" + "k" * (201 - 3 - 53) + f"_{SECRET}", None),
        (f"sk_key_{SECRET}", None),
        (f"pk__{SECRET}", None),
        (f"pk_key_{SECRET}a", None),
        (f"pk_key_{SECRET[:-1]}", None),
        (f"pk_key_{SECRET[:-1]}-", None),
        (f"pk_key_{SECRET[:-1]}é", None),
        (SECRET, None),
    ],
)
def test_only_a_well_formed_key_splits_into_its_id_and_secret(
    presented: str, parts: tuple[str, str] | None
) -> None:
    assert model.split_key(presented) == parts
