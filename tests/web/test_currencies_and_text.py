"""Only money and storable text get in. ISO 4217 codes that are not money (XXX "no
currency", XTS for tests, metals, fund codes) are `unknown_currency` wherever a currency
enters; NUL and other control characters in any stored text field are `invalid_text`
(PostgreSQL cannot store NUL; the others forge log lines), before anything is written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore.errors import Rejected
from paycore.money import currency, is_known_currency
from paycore.payments.model import OrderKind
from paycore.runtime import Runtime
from paycore.text import check_text
from tests.payments.http_conftest import Tenant, new_tenant, order_count, payin_body

NOT_MONEY = ["XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XBA", "XDR", "XSU", "XUA", "USN", "CLF"]


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Shop")


def assert_refused(answer: Any, code: str, status: int = 422) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code


@pytest.mark.parametrize("code", NOT_MONEY)
def test_a_code_that_is_not_money_is_no_currency(code: str) -> None:
    assert not is_known_currency(code)
    with pytest.raises(Rejected) as refused:
        currency(code)
    assert refused.value.code == "unknown_currency" and "not money" in refused.value.detail


@pytest.mark.parametrize("code", ["CNY", "EUR", "JPY", "XAF", "XOF", "XPF", "XCD"])
def test_the_x_codes_that_are_a_countrys_money_are_currencies(code: str) -> None:
    assert currency(code).code == code


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU"])
def test_a_payin_in_a_code_that_is_not_money_is_refused(
    client: TestClient, runtime: Runtime, shop: Tenant, code: str
) -> None:
    answer = client.post("/v1/payins", json=payin_body(currency=code), headers=shop.headers())

    assert_refused(answer, "unknown_currency")
    assert order_count(runtime, OrderKind.PAYIN) == 0


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU"])
def test_ledger_accounts_wallets_and_budgets_in_a_code_that_is_not_money_are_refused(
    client: TestClient, runtime: Runtime, shop: Tenant, code: str
) -> None:
    account = client.post("/v1/accounts", json={"currency": code})
    wallet = client.post("/v1/wallets", json={"owner": "u1", "currency": code}, headers=shop.auth)
    budget = client.post(
        "/v1/reward-budgets",
        json={"budget_id": "b", "name": "B", "currency": code, "row_amount_max": 1,
              "recipient_total_max": 1},
        headers=shop.auth,
    )  # fmt: skip

    for answer in (account, wallet, budget):
        assert_refused(answer, "unknown_currency")
    assert client.get("/v1/accounts").json()["accounts"] == []


@pytest.mark.parametrize(
    "text", ["a\x00b", "\x00", "bell\x07", "esc\x1b[31m", "del\x7f", "nel\x85", "\ud800"]
)
def test_text_with_a_control_character_or_a_lone_surrogate_is_not_text(text: str) -> None:
    with pytest.raises(Rejected) as refused:
        check_text(text, field="name")
    assert refused.value.code == "invalid_text" and "name" in refused.value.detail


@pytest.mark.parametrize("text", ["张三丰", "line one\nline two", "a\tb", "crlf\r\n", "👍🏽", ""])
def test_text_in_any_script_with_tabs_and_line_breaks_is_text(text: str) -> None:
    check_text({"note": [text]}, field="metadata")


def test_a_nul_in_a_merchant_name_is_refused_and_nothing_is_stored(client: TestClient) -> None:
    answer = client.post("/v1/merchants", json={"id": "m_nul", "name": "Shop\u0000 Ltd"})

    assert_refused(answer, "invalid_text")
    assert client.get("/v1/merchants/m_nul").status_code == 404


def test_a_nul_in_a_payin_description_is_refused(
    client: TestClient, runtime: Runtime, shop: Tenant
) -> None:
    body = payin_body(description="March\u0000 rent")

    answer = client.post("/v1/payins", json=body, headers=shop.headers())

    assert_refused(answer, "invalid_text")
    assert order_count(runtime, OrderKind.PAYIN) == 0


@pytest.mark.parametrize(
    "metadata", [{"note": "a\u0000b"}, {"k\u0000": "v"}, {"deep": [{"x": ["\u001b"]}]}]
)
def test_a_control_character_anywhere_in_metadata_is_refused(
    client: TestClient, metadata: dict[str, Any]
) -> None:
    answer = client.post("/v1/accounts", json={"currency": "CNY", "metadata": metadata})

    assert_refused(answer, "invalid_text")
    assert client.get("/v1/accounts").json()["accounts"] == []


def test_a_lone_surrogate_escape_in_a_body_is_refused(client: TestClient) -> None:
    body = b'{"id": "m_sur", "name": "Shop \\ud800"}'

    answer = client.post(
        "/v1/merchants", content=body, headers={"Content-Type": "application/json"}
    )

    assert_refused(answer, "invalid_text")


@pytest.mark.parametrize(
    "url",
    [
        "/v1/merchants/m%00x",
        "/v1/accounts/acct_%00",
        "/v1/payins/pay%00",
        "/v1/accounts?owner_id=%00",
        "/v1/collection-plans/cp%1b",
        "/v1/recon/breaks?source=a%C2%85b",
    ],
)
def test_a_control_character_in_a_path_or_query_is_refused_not_a_500(
    client: TestClient, url: str
) -> None:
    assert_refused(client.get(url), "invalid_text")


@pytest.mark.parametrize(
    "url", ["/v1/accounts?owner_id=%E4%B8%AD%E6%96%87", "/v1/merchants/%F0%9F%91%8D"]
)
def test_text_in_any_script_in_a_path_or_query_is_looked_up(client: TestClient, url: str) -> None:
    assert client.get(url).status_code in (200, 404)
