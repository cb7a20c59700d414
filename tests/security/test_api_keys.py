"""API keys: issued once in clear, stored hashed, refused when wrong or revoked."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event, text

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.merchants.service import Merchants
from paycore.security.model import (
    DEFAULT_MERCHANT_SCOPES,
    EXPLICIT_SCOPES,
    Principal,
    Scope,
    split_key,
)
from paycore.security.service import AUTH_CACHE_TTL_S, ApiKeys


@pytest.fixture
def merchant_id(merchants: Merchants) -> str:
    merchant, _secret = merchants.create(name="Shop", merchant_id="mch_shop")
    return merchant.id


def all_stored_text(engine: Engine) -> str:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_keys")).all()
    return " ".join(str(value) for row in rows for value in row)


def test_an_issued_key_authenticates_as_its_merchant_with_its_scopes(
    api_keys: ApiKeys, merchant_id: str
) -> None:
    key, clear = api_keys.issue(merchant_id=merchant_id, scopes=["payments:read"], label="pos")

    principal = api_keys.authenticate(clear)

    assert principal == Principal(key.id, merchant_id, frozenset({"payments:read"}))
    assert clear.startswith(f"pk_{key.id}_") and key.id.startswith("key_")


def test_the_secret_is_stored_only_as_its_hash(api_keys: ApiKeys, engine: Engine) -> None:
    key, clear = api_keys.issue(merchant_id=None, scopes=["admin"])
    _key_id, secret = split_key(clear)  # type: ignore[misc]

    stored = all_stored_text(engine)

    assert key.id in stored
    assert secret not in stored and clear not in stored
    assert secret.upper() not in stored


def test_a_secret_carries_256_random_bits_and_no_two_keys_share_one(api_keys: ApiKeys) -> None:
    secrets = {
        split_key(api_keys.issue(merchant_id=None, scopes=["admin"])[1])[1] for _ in range(20)
    }  # type: ignore[index]

    assert len(secrets) == 20
    assert all(len(s) == 52 for s in secrets)


@pytest.mark.parametrize(
    "presented",
    ["", "pk_", "Bearer x", "pk_key_x_" + "a" * 52, "sk_live_whatever", "pk_" + "a" * 500],
)
def test_malformed_or_unknown_keys_are_unauthenticated(api_keys: ApiKeys, presented: str) -> None:
    with pytest.raises(Rejected) as refused:
        api_keys.authenticate(presented)

    assert refused.value.code == "unauthenticated"


def test_a_key_with_a_wrong_secret_is_unauthenticated(api_keys: ApiKeys) -> None:
    _key, clear = api_keys.issue(merchant_id=None, scopes=["admin"])
    last = "b" if clear[-1] != "b" else "c"

    with pytest.raises(Rejected, match="unauthenticated"):
        api_keys.authenticate(clear[:-1] + last)


def test_a_revoked_key_is_refused_at_once_in_the_revoking_process(api_keys: ApiKeys) -> None:
    key, clear = api_keys.issue(merchant_id=None, scopes=["admin"])
    api_keys.authenticate(clear)

    revoked = api_keys.revoke(key.id)

    assert revoked.revoked_at is not None
    with pytest.raises(Rejected, match="unauthenticated"):
        api_keys.authenticate(clear)


def test_another_process_refuses_a_revoked_key_once_its_cache_expires(
    engine: Engine, api_keys: ApiKeys, clock: ManualClock
) -> None:
    key, clear = api_keys.issue(merchant_id=None, scopes=["admin"])
    other_process = ApiKeys(engine, clock)
    other_process.authenticate(clear)

    api_keys.revoke(key.id)

    assert other_process.authenticate(clear).key_id == key.id  # still cached
    clock.advance(AUTH_CACHE_TTL_S)
    with pytest.raises(Rejected, match="unauthenticated"):
        other_process.authenticate(clear)


def test_a_cached_key_does_not_touch_the_database_until_the_ttl_ends(
    engine: Engine, api_keys: ApiKeys, clock: ManualClock
) -> None:
    _key, clear = api_keys.issue(merchant_id=None, scopes=["admin"])
    api_keys.authenticate(clear)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(100):
            api_keys.authenticate(clear)
        assert statements == []
        clock.advance(AUTH_CACHE_TTL_S + 1)
        api_keys.authenticate(clear)
        assert any("api_keys" in s for s in statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_clearing_the_cache_makes_the_next_authentication_check_the_database(
    api_keys: ApiKeys, engine: Engine
) -> None:
    _key, clear = api_keys.issue(merchant_id=None, scopes=["admin"])
    api_keys.authenticate(clear)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM api_keys"))

    api_keys.clear_cache()

    with pytest.raises(Rejected, match="unauthenticated"):
        api_keys.authenticate(clear)


def test_use_of_a_key_is_recorded_at_most_once_a_minute(
    api_keys: ApiKeys, clock: ManualClock
) -> None:
    key, clear = api_keys.issue(merchant_id=None, scopes=["admin"])
    started = clock.now()

    def last_used_after(seconds: float) -> object:
        clock.advance(seconds)
        api_keys.clear_cache()
        api_keys.authenticate(clear)
        return api_keys.get(key.id).last_used_at  # type: ignore[union-attr]

    assert last_used_after(0) == started
    assert last_used_after(30) == started
    assert last_used_after(31) == clock.now()


def test_a_merchant_key_gets_the_payments_scopes_by_default(
    api_keys: ApiKeys, merchant_id: str
) -> None:
    key, _clear = api_keys.issue(merchant_id=merchant_id)

    assert key.scopes == DEFAULT_MERCHANT_SCOPES
    assert not key.principal().can(Scope.LEDGER_READ)
    assert not key.principal().can(Scope.LEDGER_WRITE)


@pytest.mark.parametrize(
    ("merchant", "scopes", "code"),
    [
        (None, None, "scopes_required"),
        (None, [], "scopes_required"),
        (None, ["payments:everything"], "unknown_scope"),
        ("mch_shop", ["admin"], "admin_scope_needs_platform_key"),
        ("mch_nobody", ["payments:read"], "merchant_not_found"),
    ],
)
def test_keys_that_make_no_sense_are_refused(
    api_keys: ApiKeys, merchant_id: str, merchant: str | None, scopes: list[str] | None, code: str
) -> None:
    with pytest.raises(Rejected) as refused:
        api_keys.issue(merchant_id=merchant, scopes=scopes)

    assert refused.value.code == code


def test_admin_can_do_everything_and_other_scopes_only_their_own() -> None:
    admin = Principal("key_a", None, frozenset({"admin"}))
    reader = Principal("key_r", "mch_1", frozenset({"ledger:read"}))

    assert all(admin.can(s) for s in Scope if s not in EXPLICIT_SCOPES)
    assert not admin.can(Scope.PII_REVEAL)
    assert reader.can("ledger:read") and not reader.can("ledger:write")


def test_keys_are_listed_per_merchant_without_secrets(
    api_keys: ApiKeys, merchants: Merchants, merchant_id: str
) -> None:
    merchants.create(name="Other", merchant_id="mch_other")
    mine, _ = api_keys.issue(merchant_id=merchant_id, label="mine")
    theirs, _ = api_keys.issue(merchant_id="mch_other")
    platform, _ = api_keys.issue(merchant_id=None, scopes=["admin"])

    assert [k.id for k in api_keys.list(merchant_id)] == [mine.id]
    assert [k.id for k in api_keys.list()] == [mine.id, theirs.id, platform.id]


def test_revoking_an_unknown_key_is_refused(api_keys: ApiKeys) -> None:
    with pytest.raises(Rejected, match="api_key_not_found"):
        api_keys.revoke("key_nope")
