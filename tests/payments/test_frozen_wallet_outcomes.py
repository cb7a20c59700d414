"""A platform freeze of a merchant wallet while a payout or refund is at the bank.

The bank has paid (or refused) already: the ledger must record that outcome, so the
callback is acknowledged and the hold taken before the freeze is posted or voided. The
freeze still stops the wallet from taking any new payout or refund.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from paycore.ledger.model import AccountStatus, TransferStatus
from paycore.payments import bookkeeping as books
from paycore.runtime import Runtime
from tests.payments.http_conftest import Tenant, new_tenant, notify, paid_payin, payout_body

Freeze = Callable[[str], None]


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Frozen Shop")


@pytest.fixture(params=["admin_http", "ledger_service"])
def freeze(request: pytest.FixtureRequest, client: TestClient, runtime: Runtime) -> Freeze:
    """The platform freezes a wallet: over HTTP with the admin key, or through the ledger."""

    def over_http(account_id: str) -> None:
        answer = client.post(f"/v1/accounts/{account_id}/status", json={"status": "frozen"})
        assert answer.status_code == 200, answer.text

    def in_process(account_id: str) -> None:
        runtime.ledger.set_account_status(account_id, AccountStatus.FROZEN)

    return over_http if request.param == "admin_http" else in_process


def wallet_id(tenant: Tenant) -> str:
    return books.wallet_account(tenant.id, "CNY")


def hold_status(runtime: Runtime, order_id: str) -> TransferStatus | None:
    hold = runtime.ledger.get_transfer(f"tr_{order_id}_hold")
    return None if hold is None else hold.status


def in_flight_payout(client: TestClient, shop: Tenant) -> str:
    paid_payin(client, shop)
    created = client.post("/v1/payouts", json=payout_body(amount=5_000), headers=shop.headers())
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "processing"
    payout_id: str = created.json()["id"]
    return payout_id


def test_a_payout_paid_by_the_bank_after_its_wallet_was_frozen_succeeds_and_takes_its_hold(
    client: TestClient, runtime: Runtime, shop: Tenant, freeze: Freeze
) -> None:
    payout_id = in_flight_payout(client, shop)
    freeze(wallet_id(shop))

    callback = notify(client, payout_id, operation="payout")

    assert callback.status_code == 200, callback.text
    payout = client.get(f"/v1/payouts/{payout_id}", headers=shop.auth).json()
    assert payout["status"] == "succeeded"
    assert hold_status(runtime, payout_id) is TransferStatus.POSTED_PENDING
    wallet = runtime.ledger.get_account(wallet_id(shop))
    assert wallet is not None and wallet.status is AccountStatus.FROZEN
    assert (wallet.credits_posted - wallet.debits_posted, wallet.debits_pending) == (5_000, 0)
    assert notify(client, payout_id, operation="payout").status_code == 200  # a replay
    assert runtime.ledger.check().ok


def test_a_frozen_wallet_takes_no_new_payout_even_after_an_earlier_one_settled(
    client: TestClient, runtime: Runtime, shop: Tenant, freeze: Freeze
) -> None:
    payout_id = in_flight_payout(client, shop)
    freeze(wallet_id(shop))
    assert notify(client, payout_id, operation="payout").status_code == 200

    refused = client.post("/v1/payouts", json=payout_body(amount=1_000), headers=shop.headers())

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "ledger_account_frozen"
    wallet = runtime.ledger.get_account(wallet_id(shop))
    assert wallet is not None and (wallet.debits_pending, wallet.available) == (0, 5_000)


def test_a_payout_the_bank_refused_after_its_wallet_was_frozen_gives_the_money_back(
    client: TestClient, runtime: Runtime, shop: Tenant, freeze: Freeze
) -> None:
    payout_id = in_flight_payout(client, shop)
    freeze(wallet_id(shop))

    callback = notify(client, payout_id, status="failed", operation="payout")

    assert callback.status_code == 200, callback.text
    payout = client.get(f"/v1/payouts/{payout_id}", headers=shop.auth).json()
    assert payout["status"] == "failed"
    assert hold_status(runtime, payout_id) is TransferStatus.VOIDED_PENDING
    wallet = runtime.ledger.get_account(wallet_id(shop))
    assert wallet is not None and (wallet.debits_pending, wallet.available) == (0, 10_000)
    assert runtime.ledger.check().ok


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_a_refund_settled_by_the_bank_after_the_wallet_was_frozen_is_recorded(
    client: TestClient, runtime: Runtime, shop: Tenant, freeze: Freeze, outcome: str
) -> None:
    payin_id = paid_payin(client, shop)
    created = client.post(
        f"/v1/payins/{payin_id}/refunds", json={"amount": 3_000}, headers=shop.headers()
    )
    assert created.status_code == 201, created.text
    refund_id = created.json()["id"]
    freeze(wallet_id(shop))

    callback = notify(client, refund_id, status=outcome, operation="refund")

    assert callback.status_code == 200, callback.text
    refund = client.get(f"/v1/refunds/{refund_id}", headers=shop.auth).json()
    assert refund["status"] == outcome
    expected = "pending_posted" if outcome == "succeeded" else "pending_voided"
    assert hold_status(runtime, refund_id) == expected
    again = client.post(
        f"/v1/payins/{payin_id}/refunds", json={"amount": 1_000}, headers=shop.headers()
    )
    assert (again.status_code, again.json()["code"]) == (422, "ledger_account_frozen")
    assert runtime.ledger.check().ok
