"""Money the bank confirms arriving while the platform has frozen the merchant's wallet.

A pay-in paid, or a payout sent back, after the freeze is real money at the bank: paycore
records it in the wallet, where it stays frozen. The callback is acknowledged; the merchant
cannot spend the money until the platform unfreezes the wallet.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paycore.consistency.service import FlowCheck
from paycore.errors import Rejected
from paycore.ledger.model import AccountStatus, Caller, TransferRequest
from paycore.payments import bookkeeping as books
from paycore.runtime import Runtime
from tests.payments.http_conftest import (
    Tenant,
    create_payin,
    new_tenant,
    notify,
    paid_payin,
    payout_body,
)

FEE_BPS = 100  # 1%: the pay-in's fee goes to the fee account, the net to the wallet


@pytest.fixture
def shop(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Frozen Shop", fee_bps=FEE_BPS)


def wallet_id(tenant: Tenant) -> str:
    return books.wallet_account(tenant.id, "CNY")


def set_wallet(client: TestClient, tenant: Tenant, status: str) -> None:
    """The platform (the admin key of `client`) freezes or unfreezes the wallet."""
    answer = client.post(f"/v1/accounts/{wallet_id(tenant)}/status", json={"status": status})
    assert answer.status_code == 200, answer.text


def frozen_balance(runtime: Runtime, tenant: Tenant) -> int:
    wallet = runtime.ledger.get_account(wallet_id(tenant))
    assert wallet is not None and wallet.status is AccountStatus.FROZEN
    return wallet.credits_posted - wallet.debits_posted


def assert_books_agree(runtime: Runtime) -> None:
    assert runtime.ledger.check().ok
    report = FlowCheck(runtime.engine, runtime.clock).run()
    assert report.ok, report.disagreements


def test_a_payin_paid_after_its_wallet_was_frozen_is_recorded_and_stays_frozen(
    client: TestClient, runtime: Runtime, shop: Tenant
) -> None:
    paid_payin(client, shop)  # 10,000 - 100 fee
    created = create_payin(client, shop, amount=20_000)
    assert created.status_code == 201, created.text
    payin_id = created.json()["id"]
    set_wallet(client, shop, "frozen")

    callback = notify(client, payin_id, channel=created.json()["channel"])

    assert callback.status_code == 200, callback.text
    payin = client.get(f"/v1/payins/{payin_id}", headers=shop.auth).json()
    assert payin["status"] == "succeeded"
    assert frozen_balance(runtime, shop) == 9_900 + 19_800
    fee = runtime.ledger.get_account(books.fee_account("CNY"))
    assert fee is not None and fee.credits_posted == 100 + 200
    assert notify(client, payin_id, channel=created.json()["channel"]).status_code == 200
    assert frozen_balance(runtime, shop) == 29_700  # a replayed callback moves nothing
    assert_books_agree(runtime)


def test_money_that_arrived_in_a_frozen_wallet_is_spendable_only_after_the_unfreeze(
    client: TestClient, runtime: Runtime, shop: Tenant
) -> None:
    paid_payin(client, shop)
    created = create_payin(client, shop, amount=20_000)
    set_wallet(client, shop, "frozen")
    assert notify(client, created.json()["id"], channel=created.json()["channel"]).is_success

    refused = client.post("/v1/payouts", json=payout_body(amount=25_000), headers=shop.headers())
    assert (refused.status_code, refused.json()["code"]) == (422, "ledger_account_frozen")
    set_wallet(client, shop, "active")
    accepted = client.post("/v1/payouts", json=payout_body(amount=25_000), headers=shop.headers())

    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["status"] == "processing"
    assert_books_agree(runtime)


def test_a_payout_returned_after_its_wallet_was_frozen_brings_the_money_back_frozen(
    client: TestClient, runtime: Runtime, shop: Tenant
) -> None:
    paid_payin(client, shop)
    created = client.post("/v1/payouts", json=payout_body(amount=5_000), headers=shop.headers())
    payout_id = created.json()["id"]
    assert notify(client, payout_id, operation="payout").status_code == 200
    set_wallet(client, shop, "frozen")

    callback = notify(client, payout_id, status="returned", operation="payout")

    assert callback.status_code == 200, callback.text
    payout = client.get(f"/v1/payouts/{payout_id}", headers=shop.auth).json()
    assert payout["status"] == "returned"
    assert frozen_balance(runtime, shop) == 9_900
    assert notify(client, payout_id, status="returned", operation="payout").status_code == 200
    assert frozen_balance(runtime, shop) == 9_900
    assert_books_agree(runtime)


def test_an_api_transfer_cannot_carry_the_money_arrived_marker(
    client: TestClient, runtime: Runtime, shop: Tenant
) -> None:
    body = {
        "id": "tr_probe_1",
        "debit_account_id": "acct_probe_a",
        "credit_account_id": "acct_probe_b",
        "amount": 1,
        "currency": "CNY",
        "bank_confirmed": True,
    }
    answer = client.post("/v1/transfers", json={"transfers": [body]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "unknown_field"

    # Below HTTP too: the service refuses the marker from any API caller.
    marked = TransferRequest(
        id="tr_probe_2",
        debit_account_id="acct_probe_a",
        credit_account_id="acct_probe_b",
        amount=1,
        currency="CNY",
        bank_confirmed=True,
    )
    for caller in (Caller(merchant_id=None), Caller(merchant_id=shop.id)):
        with pytest.raises(Rejected) as refused:
            runtime.ledger.create_transfers([marked], caller=caller)
        assert refused.value.code == "bank_confirmed_reserved"


def test_a_merchant_api_account_frozen_takes_no_money_even_from_a_platform_key(
    client: TestClient, runtime: Runtime, shop: Tenant
) -> None:
    """The marker is the flows' alone: a frozen API account still refuses every credit."""
    for account_id in ("acct_probe_src", "acct_probe_dst"):
        opened = client.post("/v1/accounts", json={"id": account_id, "currency": "CNY"})
        assert opened.status_code in (200, 201), opened.text
    set_status = client.post("/v1/accounts/acct_probe_dst/status", json={"status": "frozen"})
    assert set_status.status_code == 200, set_status.text
    transfer = {
        "id": "tr_probe_3",
        "debit_account_id": "acct_probe_src",
        "credit_account_id": "acct_probe_dst",
        "amount": 1,
        "currency": "CNY",
    }

    answer = client.post("/v1/transfers", json={"transfers": [transfer]})

    assert answer.status_code in (200, 201), answer.text
    assert answer.json()["results"] == [{"id": "tr_probe_3", "result": "account_frozen"}]
