"""Shared by the tests of who reaches which money through the ledger's API: a runtime with
one scripted bank (alpha), merchants whose keys carry ledger:write, and request helpers.
Test modules bind the fixtures to module names (`shop = reach.shop`), where pytest
finds them; `runtime` needs `alpha` bound too."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore.runtime import Runtime
from paycore.security.model import Scope
from tests.payments.http_conftest import (
    Tenant,
    one_scripted_bank,
    paid_payin,
    payout_body,
    runtime_with_one_scripted_bank,
)

alpha = one_scripted_bank
runtime = runtime_with_one_scripted_bank

PAYMENTS_AND_LEDGER = [
    Scope.PAYMENTS_READ,
    Scope.PAYMENTS_WRITE,
    Scope.PAYOUTS_WRITE,
    Scope.REFUNDS_WRITE,
    Scope.LEDGER_READ,
    Scope.LEDGER_WRITE,
]


def tenant(runtime: Runtime, name: str) -> Tenant:
    """A merchant whose key has the payments scopes and ledger:write."""
    merchant, _secret = runtime.merchants.create(name=name)
    _key, clear = runtime.api_keys.issue(merchant_id=merchant.id, scopes=PAYMENTS_AND_LEDGER)
    return Tenant(merchant.id, clear)


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return tenant(runtime, "Shop")


@pytest.fixture
def other(runtime: Runtime) -> Tenant:
    return tenant(runtime, "Other shop")


def post(client: TestClient, *transfers: dict[str, Any], auth: dict[str, str] | None = None) -> Any:
    return client.post("/v1/transfers", json={"transfers": list(transfers)}, headers=auth or {})


def results(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["result"] for r in response.json()["results"]]


def void(transfer_id: str, hold_id: str) -> dict[str, Any]:
    return {"id": transfer_id, "pending_id": hold_id, "flags": ["void_pending"]}


def post_hold(transfer_id: str, hold_id: str) -> dict[str, Any]:
    return {"id": transfer_id, "pending_id": hold_id, "flags": ["post_pending"]}


def move(transfer_id: str, debit: str, credit: str, **fields: Any) -> dict[str, Any]:
    body = {
        "id": transfer_id,
        "debit_account_id": debit,
        "credit_account_id": credit,
        "amount": 100,
        "currency": "CNY",
    }
    return body | fields


def open_api_account(client: TestClient, account_id: str, auth: dict[str, str]) -> None:
    response = client.post("/v1/accounts", json={"id": account_id, "currency": "CNY"}, headers=auth)
    assert response.status_code == 201, response.text


def payout_in_flight(client: TestClient, shop: Tenant) -> str:
    paid_payin(client, shop)  # 10,000 in, no fee
    answer = client.post("/v1/payouts", json=payout_body(amount=6_000), headers=shop.headers())
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "processing"
    payout_id: str = answer.json()["id"]
    return payout_id
