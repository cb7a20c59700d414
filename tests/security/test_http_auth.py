"""Over HTTP: no key is 401, a key without the scope 403, another merchant's object 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore.ledger.model import AccountOrigin
from paycore.ledger.service import AccountRequest, Ledger
from paycore.merchants.service import Merchants
from paycore.security.model import split_key
from paycore.security.service import ApiKeys

PROBLEM_JSON = "application/problem+json"
KeyFor = Callable[..., dict[str, str]]


@pytest.fixture
def key_for(api_keys: ApiKeys, merchants: Merchants) -> KeyFor:
    """Authorization headers of a new key: key_for("mch_a", "ledger:read") or
    key_for(None, "ledger:read") for a platform key."""

    def make(merchant_id: str | None, *scopes: str) -> dict[str, str]:
        if merchant_id is not None and merchants.get(merchant_id) is None:
            merchants.create(name=merchant_id, merchant_id=merchant_id)
        _key, clear = api_keys.issue(merchant_id=merchant_id, scopes=scopes or None)
        return {"Authorization": f"Bearer {clear}"}

    return make


@pytest.fixture
def two_merchants_accounts(ledger: Ledger) -> None:
    """Accounts opened through the ledger's API (a flow's are out of every key's reach)."""
    for account_id, owner in (
        ("acct_a", "mch_a"),
        ("acct_b", "mch_b"),
        ("acct_p", None),
    ):
        ledger.create_account(
            AccountRequest(id=account_id, currency="CNY", owner_id=owner, origin=AccountOrigin.API)
        )


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer pk_key_nope_" + "a" * 52, "Basic dXNlcjpwYXNz", "pk_x"],
)
def test_a_request_without_a_valid_key_is_401_with_a_bearer_challenge(
    client: TestClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    if authorization is None:
        client.headers.pop("Authorization")

    response = client.get("/v1/accounts", headers=headers)

    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_key_without_the_scope_is_403(client: TestClient, key_for: KeyFor) -> None:
    merchant_default = key_for("mch_a")
    reader = key_for(None, "ledger:read")

    assert_problem(client.get("/v1/accounts", headers=merchant_default), 403, "forbidden")
    assert_problem(
        client.post("/v1/accounts", json={"currency": "CNY"}, headers=reader), 403, "forbidden"
    )
    assert client.get("/v1/accounts", headers=reader).status_code == 200


def test_a_revoked_key_is_refused(client: TestClient, api_keys: ApiKeys, key_for: KeyFor) -> None:
    headers = key_for(None, "ledger:read")
    assert client.get("/v1/accounts", headers=headers).status_code == 200
    key_id, _secret = split_key(headers["Authorization"].removeprefix("Bearer "))  # type: ignore[misc]

    api_keys.revoke(key_id)

    assert_problem(client.get("/v1/accounts", headers=headers), 401, "unauthenticated")


@pytest.mark.usefixtures("two_merchants_accounts")
def test_a_merchant_sees_its_own_account_and_another_merchants_as_missing(
    client: TestClient, key_for: KeyFor
) -> None:
    merchant_a = key_for("mch_a", "ledger:read")

    own = client.get("/v1/accounts/acct_a", headers=merchant_a)
    other = client.get("/v1/accounts/acct_b", headers=merchant_a)
    platform = client.get("/v1/accounts/acct_p", headers=merchant_a)
    missing = client.get("/v1/accounts/acct_missing", headers=merchant_a)

    assert own.status_code == 200 and own.json()["owner_id"] == "mch_a"
    for refused in (other, platform, missing):
        assert_problem(refused, 404, "account_not_found")
    assert other.json()["detail"] == "no account acct_b"


@pytest.mark.usefixtures("two_merchants_accounts")
def test_an_admin_sees_every_merchants_accounts(client: TestClient) -> None:
    for account_id in ("acct_a", "acct_b", "acct_p"):
        assert client.get(f"/v1/accounts/{account_id}").status_code == 200
    assert len(client.get("/v1/accounts").json()["accounts"]) == 3


@pytest.mark.usefixtures("two_merchants_accounts")
def test_a_merchant_lists_only_its_own_accounts(client: TestClient, key_for: KeyFor) -> None:
    merchant_a = key_for("mch_a", "ledger:read")

    everything = client.get("/v1/accounts", headers=merchant_a).json()
    asked_for_b = client.get("/v1/accounts?owner_id=mch_b", headers=merchant_a).json()

    assert [a["id"] for a in everything["accounts"]] == ["acct_a"]
    assert asked_for_b == {"accounts": [], "next_cursor": None}


@pytest.mark.usefixtures("two_merchants_accounts")
@pytest.mark.parametrize(
    "path",
    ["/v1/accounts/acct_b/entries", "/v1/accounts/acct_b/balance?at=2026-01-01T00:00:00Z"],
)
def test_a_merchant_cannot_read_another_merchants_history_or_balance(
    client: TestClient, key_for: KeyFor, path: str
) -> None:
    assert_problem(
        client.get(path, headers=key_for("mch_a", "ledger:read")), 404, "account_not_found"
    )
    assert client.get(path).status_code == 200


@pytest.mark.usefixtures("two_merchants_accounts")
def test_a_merchant_cannot_freeze_another_merchants_account(
    client: TestClient, key_for: KeyFor
) -> None:
    writer = key_for("mch_a", "ledger:write")

    refused = client.post("/v1/accounts/acct_b/status", json={"status": "frozen"}, headers=writer)
    own = client.post("/v1/accounts/acct_a/status", json={"status": "frozen"}, headers=writer)

    assert_problem(refused, 404, "account_not_found")
    assert own.json()["status"] == "frozen"
    assert client.get("/v1/accounts/acct_b").json()["status"] == "active"


def transfer(transfer_id: str, debit: str, credit: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": transfer_id,
        "debit_account_id": debit,
        "credit_account_id": credit,
        "amount": 10,
        "currency": "CNY",
        **fields,
    }


@pytest.mark.usefixtures("two_merchants_accounts")
def test_a_merchant_key_writes_the_ledger_only_with_ledger_write(
    client: TestClient, key_for: KeyFor, ledger: Ledger
) -> None:
    ledger.create_account(
        AccountRequest(id="acct_a2", currency="CNY", owner_id="mch_a", origin=AccountOrigin.API)
    )
    body = {"transfers": [transfer("tr_1", "acct_a", "acct_a2")]}

    refused = client.post("/v1/transfers", json=body, headers=key_for("mch_a"))
    allowed = client.post("/v1/transfers", json=body, headers=key_for("mch_a", "ledger:write"))

    assert_problem(refused, 403, "forbidden")
    assert allowed.json()["results"] == [{"id": "tr_1", "result": "created"}]


@pytest.mark.usefixtures("two_merchants_accounts")
def test_a_merchant_cannot_move_money_out_of_another_merchants_account(
    client: TestClient, key_for: KeyFor, ledger: Ledger
) -> None:
    writer = key_for("mch_a", "ledger:write")
    hold = {"transfers": [transfer("tr_hold", "acct_b", "acct_a", flags=["pending"])]}
    assert client.post("/v1/transfers", json=hold).json()["results"][0]["result"] == "created"

    theft = client.post(
        "/v1/transfers", json={"transfers": [transfer("tr_x", "acct_b", "acct_a")]}, headers=writer
    )
    post_their_hold = client.post(
        "/v1/transfers",
        json={"transfers": [{"id": "tr_post", "pending_id": "tr_hold", "flags": ["post_pending"]}]},
        headers=writer,
    )

    # Exactly what a missing account or hold answers: nothing about the other merchant leaks.
    assert theft.json()["results"] == [{"id": "tr_x", "result": "debit_account_not_found"}]
    assert post_their_hold.json()["results"] == [
        {"id": "tr_post", "result": "pending_transfer_not_found"}
    ]
    assert "acct_b" not in post_their_hold.text
    assert ledger.get_transfer("tr_x") is None and ledger.get_transfer("tr_post") is None


@pytest.mark.usefixtures("two_merchants_accounts")
def test_a_merchant_sees_only_transfers_touching_its_accounts(
    client: TestClient, key_for: KeyFor, ledger: Ledger
) -> None:
    ledger.create_account(
        AccountRequest(id="acct_b2", currency="CNY", owner_id="mch_b", origin=AccountOrigin.API)
    )
    body = {
        "transfers": [transfer("tr_ab", "acct_b", "acct_a"), transfer("tr_bb", "acct_b", "acct_b2")]
    }
    assert client.post("/v1/transfers", json=body).status_code == 200
    reader = key_for("mch_a", "ledger:read")

    assert client.get("/v1/transfers/tr_ab", headers=reader).status_code == 200
    assert_problem(client.get("/v1/transfers/tr_bb", headers=reader), 404, "transfer_not_found")


def test_a_merchant_opens_accounts_only_for_itself(client: TestClient, key_for: KeyFor) -> None:
    writer = key_for("mch_a", "ledger:write")

    own = client.post("/v1/accounts", json={"id": "acct_new", "currency": "CNY"}, headers=writer)
    foreign = client.post(
        "/v1/accounts", json={"currency": "CNY", "owner_id": "mch_b"}, headers=writer
    )

    assert own.status_code == 201 and own.json()["owner_id"] == "mch_a"
    assert_problem(foreign, 403, "forbidden")


def test_the_ledger_self_check_is_for_platform_keys_only(
    client: TestClient, key_for: KeyFor
) -> None:
    assert_problem(
        client.get("/v1/ledger/check", headers=key_for("mch_a", "ledger:read")), 403, "forbidden"
    )
    assert client.get("/v1/ledger/check", headers=key_for(None, "ledger:read")).json()["ok"]


def test_the_openapi_document_declares_the_bearer_scheme(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert {"ApiKey": []} in schema["paths"]["/v1/transfers"]["post"]["security"]


def test_health_needs_no_key(client: TestClient) -> None:
    client.headers.pop("Authorization")

    assert client.get("/healthz").status_code == 200
