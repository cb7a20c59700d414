"""The ledger over HTTP: the routes a client uses when everything goes right.

Bad input is in test_http_bad_input.py; these tests pin status codes, the
shape of each reply and that the replies agree with what the ledger stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore.clock import ManualClock
from paycore.ledger.service import Ledger

PROBLEM_JSON = "application/problem+json"

ACCOUNT_FIELDS = {
    "id", "currency", "currency_exponent", "code", "owner_id", "origin", "flags", "status",
    "debits_pending", "debits_posted", "credits_pending", "credits_posted", "available",
    "metadata", "created_at",
}  # fmt: skip


def open_account(client: TestClient, account_id: str, **fields: Any) -> dict[str, Any]:
    body = {"id": account_id, "currency": "CNY", **fields}
    response = client.post("/v1/accounts", json=body)
    assert response.status_code == 201, response.text
    account: dict[str, Any] = response.json()
    return account


def transfer(transfer_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": transfer_id, "debit_account_id": "acct_a", "credit_account_id": "acct_b",
        "amount": 100, "currency": "CNY",
    }  # fmt: skip
    body.update(fields)
    return body


def post_transfers(client: TestClient, *transfers: dict[str, Any]) -> list[dict[str, str]]:
    response = client.post("/v1/transfers", json={"transfers": list(transfers)})
    assert response.status_code == 200, response.text
    results: list[dict[str, str]] = response.json()["results"]
    return results


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    return body


@pytest.fixture
def two_accounts(client: TestClient) -> None:
    open_account(client, "acct_a")
    open_account(client, "acct_b")


# -- accounts ------------------------------------------------------------------------------


def test_creating_an_account_returns_201_with_every_field(
    client: TestClient, clock: ManualClock
) -> None:
    response = client.post(
        "/v1/accounts",
        json={
            "id": "acct_cash", "currency": "CNY", "code": 1001, "owner_id": "merchant_1",
            "flags": ["debits_must_not_exceed_credits"], "metadata": {"name": "cash"},
        },
    )  # fmt: skip

    assert response.status_code == 201
    account = response.json()
    assert set(account) == ACCOUNT_FIELDS
    assert account == {
        "id": "acct_cash", "currency": "CNY", "currency_exponent": 2, "code": 1001,
        "owner_id": "merchant_1", "origin": "api",
        "flags": ["debits_must_not_exceed_credits"], "status": "active", "debits_pending": 0,
        "debits_posted": 0, "credits_pending": 0, "credits_posted": 0, "available": 0,
        "metadata": {"name": "cash"}, "created_at": account["created_at"],
    }  # fmt: skip
    assert datetime.fromisoformat(account["created_at"]) == clock.now()


def test_an_account_created_without_an_id_gets_a_new_acct_id(client: TestClient) -> None:
    response = client.post("/v1/accounts", json={"currency": "USD"})

    assert response.status_code == 201
    account_id = response.json()["id"]
    assert account_id.startswith("acct_")
    assert client.get(f"/v1/accounts/{account_id}").json()["currency"] == "USD"


def test_creating_the_same_account_again_returns_200_and_the_stored_account(
    client: TestClient,
) -> None:
    body = {"id": "acct_a", "currency": "CNY", "code": 7, "metadata": {"k": "v"}}
    first = client.post("/v1/accounts", json=body)

    again = client.post("/v1/accounts", json=body)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()


@pytest.mark.parametrize(
    ("changed", "code"),
    [
        ({"currency": "USD"}, "exists_with_different_currency"),
        ({"code": 8}, "exists_with_different_code"),
        ({"owner_id": "someone_else"}, "exists_with_different_owner_id"),
        ({"flags": ["credits_must_not_exceed_debits"]}, "exists_with_different_flags"),
        ({"metadata": {"k": "other"}}, "exists_with_different_metadata"),
    ],
)
def test_creating_an_account_with_a_used_id_and_different_fields_is_a_409_problem(
    client: TestClient, changed: dict[str, Any], code: str
) -> None:
    body = {"id": "acct_a", "currency": "CNY", "code": 7, "metadata": {"k": "v"}}
    original = client.post("/v1/accounts", json=body).json()

    response = client.post("/v1/accounts", json={**body, **changed})

    assert_problem(response, 409, code)
    assert client.get("/v1/accounts/acct_a").json() == original


def test_getting_an_account_returns_what_was_created(client: TestClient) -> None:
    created = open_account(client, "acct_a", code=3, metadata={"n": 1})

    response = client.get("/v1/accounts/acct_a")

    assert response.status_code == 200
    assert response.json() == created


def test_getting_a_missing_account_is_a_404_problem_with_code_account_not_found(
    client: TestClient,
) -> None:
    response = client.get("/v1/accounts/acct_missing")

    body = assert_problem(response, 404, "account_not_found")
    assert "acct_missing" in body["detail"]


# -- transfers -----------------------------------------------------------------------------


@pytest.mark.usefixtures("two_accounts")
def test_a_transfer_moves_money_and_both_accounts_show_it(client: TestClient) -> None:
    results = post_transfers(client, transfer("tr_1", amount=250))

    assert results == [{"id": "tr_1", "result": "created"}]
    debit = client.get("/v1/accounts/acct_a").json()
    credit = client.get("/v1/accounts/acct_b").json()
    assert (debit["debits_posted"], debit["credits_posted"], debit["available"]) == (250, 0, -250)
    assert (credit["debits_posted"], credit["credits_posted"], credit["available"]) == (0, 250, 250)


@pytest.mark.usefixtures("two_accounts")
def test_transfer_results_come_back_in_request_order_including_failures(
    client: TestClient,
) -> None:
    post_transfers(client, transfer("tr_done", amount=5))

    results = post_transfers(
        client,
        transfer("tr_1", amount=10),
        transfer("tr_2", credit_account_id="acct_a"),
        transfer("tr_3", debit_account_id="acct_nowhere"),
        transfer("tr_done", amount=5),
        transfer("tr_4", amount=20),
        transfer("tr_5", currency="USD"),
    )

    assert results == [
        {"id": "tr_1", "result": "created"},
        {"id": "tr_2", "result": "accounts_must_be_different"},
        {"id": "tr_3", "result": "debit_account_not_found"},
        {"id": "tr_done", "result": "exists"},
        {"id": "tr_4", "result": "created"},
        {"id": "tr_5", "result": "currency_mismatch"},
    ]
    assert client.get("/v1/accounts/acct_b").json()["credits_posted"] == 5 + 10 + 20
    assert client.get("/v1/transfers/tr_2").status_code == 404


@pytest.mark.usefixtures("two_accounts")
def test_getting_a_transfer_returns_every_field(client: TestClient, clock: ManualClock) -> None:
    post_transfers(client, transfer("tr_1", amount=42, code=9, metadata={"order": "o_1"}))

    response = client.get("/v1/transfers/tr_1")

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": "tr_1", "debit_account_id": "acct_a", "credit_account_id": "acct_b",
        "amount": 42, "currency": "CNY", "flags": [], "pending_id": None, "timeout_s": 0,
        "code": 9, "status": "posted", "metadata": {"order": "o_1"},
        "created_at": body["created_at"], "expires_at": None,
    }  # fmt: skip
    assert datetime.fromisoformat(body["created_at"]) == clock.now()


def test_getting_a_missing_transfer_is_a_404_problem_with_code_transfer_not_found(
    client: TestClient,
) -> None:
    response = client.get("/v1/transfers/tr_missing")

    assert_problem(response, 404, "transfer_not_found")


@pytest.mark.usefixtures("two_accounts")
def test_a_hold_reserves_money_and_posting_it_moves_the_posted_balances(
    client: TestClient, clock: ManualClock
) -> None:
    hold = post_transfers(client, transfer("tr_hold", amount=300, flags=["pending"], timeout_s=60))
    held = client.get("/v1/transfers/tr_hold").json()
    during = client.get("/v1/accounts/acct_a").json()

    post = post_transfers(
        client, {"id": "tr_post", "pending_id": "tr_hold", "flags": ["post_pending"]}
    )

    assert hold == [{"id": "tr_hold", "result": "created"}]
    assert held["status"] == "pending"
    assert datetime.fromisoformat(held["expires_at"]) == clock.now() + timedelta(seconds=60)
    assert (during["debits_pending"], during["debits_posted"]) == (300, 0)
    assert post == [{"id": "tr_post", "result": "created"}]
    assert client.get("/v1/transfers/tr_hold").json()["status"] == "pending_posted"
    after = client.get("/v1/accounts/acct_a").json()
    assert (after["debits_pending"], after["debits_posted"]) == (0, 300)


@pytest.mark.usefixtures("two_accounts")
def test_a_hold_past_its_timeout_reads_as_expired_and_releases_the_money(
    client: TestClient, clock: ManualClock
) -> None:
    post_transfers(client, transfer("tr_hold", amount=300, flags=["pending"], timeout_s=60))

    clock.advance(61)

    assert client.get("/v1/transfers/tr_hold").json()["status"] == "pending_expired"
    assert client.get("/v1/accounts/acct_a").json()["debits_pending"] == 0


# -- history -------------------------------------------------------------------------------


@pytest.mark.usefixtures("two_accounts")
def test_entries_page_oldest_first_with_limit_and_after_until_the_cursor_runs_out(
    client: TestClient,
) -> None:
    post_transfers(client, *(transfer(f"tr_{i}", amount=i) for i in range(1, 6)))
    url = "/v1/accounts/acct_a/entries"

    pages = []
    params: dict[str, Any] = {"limit": 2, "order": "oldest_first"}
    for _ in range(5):
        response = client.get(url, params=params)
        assert response.status_code == 200
        page = response.json()
        pages.append([e["transfer_id"] for e in page["entries"]])
        if page["next_cursor"] is None:
            break
        params["after"] = page["next_cursor"]

    assert pages == [["tr_1", "tr_2"], ["tr_3", "tr_4"], ["tr_5"]]


@pytest.mark.usefixtures("two_accounts")
def test_entries_are_newest_first_by_default_and_carry_the_running_balance(
    client: TestClient,
) -> None:
    post_transfers(client, transfer("tr_1", amount=10), transfer("tr_2", amount=20))

    response = client.get("/v1/accounts/acct_a/entries")

    assert response.status_code == 200
    page = response.json()
    assert page["next_cursor"] is None
    assert [(e["transfer_id"], e["side"], e["event"], e["amount"]) for e in page["entries"]] == [
        ("tr_2", "debit", "posted", 20),
        ("tr_1", "debit", "posted", 10),
    ]
    assert [e["debits_posted"] for e in page["entries"]] == [30, 10]


@pytest.mark.usefixtures("two_accounts")
def test_entries_newest_first_page_backwards_with_after(client: TestClient) -> None:
    post_transfers(client, *(transfer(f"tr_{i}", amount=i) for i in range(1, 4)))
    url = "/v1/accounts/acct_b/entries"

    first = client.get(url, params={"limit": 2}).json()
    second = client.get(url, params={"limit": 2, "after": first["next_cursor"]}).json()

    assert [e["transfer_id"] for e in first["entries"]] == ["tr_3", "tr_2"]
    assert [e["transfer_id"] for e in second["entries"]] == ["tr_1"]
    assert second["next_cursor"] is None


def test_entries_of_a_missing_account_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/v1/accounts/acct_missing/entries"), 404, "account_not_found")


@pytest.mark.usefixtures("two_accounts")
def test_an_entries_cursor_that_is_not_a_cursor_is_refused_with_cursor_invalid(
    client: TestClient,
) -> None:
    response = client.get("/v1/accounts/acct_a/entries", params={"after": "abc"})

    assert_problem(response, 422, "cursor_invalid")


@pytest.mark.usefixtures("two_accounts")
def test_balance_at_an_instant_shows_the_balances_as_they_were_then(
    client: TestClient, clock: ManualClock
) -> None:
    first_at = clock.now()
    post_transfers(client, transfer("tr_1", amount=10))
    second_at = clock.advance(60)
    post_transfers(client, transfer("tr_2", amount=20, flags=["pending"]))
    url = "/v1/accounts/acct_a/balance"

    def balance(at: datetime) -> tuple[int, int, int, int]:
        response = client.get(url, params={"at": at.isoformat()})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["account_id"] == "acct_a"
        assert datetime.fromisoformat(body["at"]) == at
        return (
            body["debits_pending"], body["debits_posted"], body["credits_pending"],
            body["credits_posted"],
        )  # fmt: skip

    assert balance(first_at - timedelta(seconds=1)) == (0, 0, 0, 0)
    assert balance(first_at) == (0, 10, 0, 0)
    assert balance(second_at - timedelta(seconds=1)) == (0, 10, 0, 0)
    assert balance(second_at) == (20, 10, 0, 0)


@pytest.mark.usefixtures("two_accounts")
def test_balance_at_an_instant_without_a_timezone_is_refused(client: TestClient) -> None:
    response = client.get("/v1/accounts/acct_a/balance", params={"at": "2026-01-01T00:00:00"})

    assert_problem(response, 422, "timestamp_needs_timezone")


def test_balance_of_a_missing_account_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/accounts/acct_missing/balance", params={"at": "2026-01-01T00:00Z"})

    assert_problem(response, 404, "account_not_found")


# -- account status ------------------------------------------------------------------------


@pytest.mark.usefixtures("two_accounts")
def test_a_frozen_account_refuses_transfers_until_it_is_active_again(client: TestClient) -> None:
    frozen = client.post("/v1/accounts/acct_a/status", json={"status": "frozen"})
    refused = post_transfers(client, transfer("tr_1"))
    active = client.post("/v1/accounts/acct_a/status", json={"status": "active"})
    accepted = post_transfers(client, transfer("tr_2"))

    assert frozen.status_code == 200
    assert frozen.json()["status"] == "frozen"
    assert refused == [{"id": "tr_1", "result": "account_frozen"}]
    assert active.json()["status"] == "active"
    assert accepted == [{"id": "tr_2", "result": "created"}]
    assert client.get("/v1/accounts/acct_a").json()["debits_posted"] == 100


@pytest.mark.usefixtures("two_accounts")
def test_a_closed_account_stays_closed_with_a_409_problem(client: TestClient) -> None:
    closed = client.post("/v1/accounts/acct_a/status", json={"status": "closed"})

    reopened = client.post("/v1/accounts/acct_a/status", json={"status": "active"})

    assert closed.json()["status"] == "closed"
    assert_problem(reopened, 409, "account_closed")
    assert client.get("/v1/accounts/acct_a").json()["status"] == "closed"


@pytest.mark.usefixtures("two_accounts")
def test_an_account_with_a_hold_cannot_be_closed(client: TestClient) -> None:
    post_transfers(client, transfer("tr_hold", flags=["pending"]))

    response = client.post("/v1/accounts/acct_a/status", json={"status": "closed"})

    assert_problem(response, 422, "account_has_pending_transfers")
    assert client.get("/v1/accounts/acct_a").json()["status"] == "active"


def test_setting_the_status_of_a_missing_account_is_a_404_problem(client: TestClient) -> None:
    response = client.post("/v1/accounts/acct_missing/status", json={"status": "frozen"})

    assert_problem(response, 404, "account_not_found")


# -- ledger-wide ---------------------------------------------------------------------------


@pytest.mark.usefixtures("two_accounts")
def test_the_ledger_check_reports_ok_after_transfers(client: TestClient, ledger: Ledger) -> None:
    post_transfers(client, transfer("tr_1"), transfer("tr_2", flags=["pending"]))

    response = client.get("/v1/ledger/check")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "accounts_checked": 2, "problems": []}
    assert ledger.check().ok


def test_the_openapi_document_lists_every_ledger_route(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/v1/accounts": {"get", "post"},
        "/v1/accounts/{account_id}": {"get"},
        "/v1/accounts/{account_id}/status": {"post"},
        "/v1/accounts/{account_id}/entries": {"get"},
        "/v1/accounts/{account_id}/balance": {"get"},
        "/v1/transfers": {"post"},
        "/v1/transfers/{transfer_id}": {"get"},
        "/v1/ledger/check": {"get"},
    }
    assert {path: set(paths.get(path, {})) for path in expected} == expected


def test_accounts_of_one_owner_are_listed_in_pages_that_visit_each_exactly_once(
    client: TestClient,
) -> None:
    for n in range(5):
        open_account(client, f"acct_m{n}", owner_id="merchant_7")
    open_account(client, "acct_other", owner_id="merchant_8")

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"owner_id": "merchant_7", "limit": 2}
        if cursor:
            params["after"] = cursor
        page = client.get("/v1/accounts", params=params).json()
        seen += [a["id"] for a in page["accounts"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [f"acct_m{n}" for n in range(5)]


def test_the_openapi_document_lists_every_transfer_result_code() -> None:
    from paycore.ledger.model import RESULTS
    from paycore.web.app import create_app

    schema = create_app().openapi()["components"]["schemas"]["TransferResultOut"]

    assert schema["properties"]["result"]["enum"] == list(RESULTS)
