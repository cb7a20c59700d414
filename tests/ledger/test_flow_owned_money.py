"""Money that paycore's own flows hold is out of reach of every API key (issue 10).

A flow (payments, split, custody, collection, rewards, wallets, recon) opens its accounts
through the ledger service; they and every transfer touching them belong to that flow. Over
HTTP, a key of any kind moves money only between accounts opened through the API (a merchant
key: only its own), and an account or hold out of its reach answers exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from paycore import ids
from paycore.custody import bookkeeping as custody
from paycore.custody.model import CustodyBank
from paycore.errors import Rejected
from paycore.ledger.model import AccountOrigin, TransferFlags, TransferRequest, is_reserved_id
from paycore.ledger.service import AccountRequest, Ledger
from paycore.payments import bookkeeping as books
from paycore.payments.model import ID_PREFIX
from paycore.recon.breaks import suspense_account
from paycore.rewards import model as rewards
from paycore.split.bookkeeping import commission_account
from paycore.split.model import split_id_for
from paycore.wallets import model as wallets
from tests.ledger import reach
from tests.ledger.reach import (
    move,
    open_api_account,
    payout_in_flight,
    post,
    post_hold,
    results,
    void,
)
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import (
    Tenant,
    notify,
    paid_payin,
    payout_body,
    wallet,
)

# The shared fixtures, found by pytest under these names.
alpha = reach.alpha
runtime = reach.runtime
shop = reach.shop

# -- the double spend of the issue -------------------------------------------------------------


def test_a_merchant_key_cannot_void_its_in_flight_payouts_hold_and_the_payout_completes(
    client: TestClient, shop: Tenant, ledger: Ledger
) -> None:
    payout_id = payout_in_flight(client, shop)

    voided = post(client, void("tr_mine_1", f"tr_{payout_id}_hold"), auth=shop.auth)
    second = client.post("/v1/payouts", json=payout_body(amount=6_000), headers=shop.headers())

    assert results(voided) == ["pending_transfer_not_found"]
    assert second.status_code == 422 and second.json()["code"] == "insufficient_balance"
    assert wallet(client, shop)["held"] == 6_000
    assert notify(client, payout_id, operation="payout").status_code == 200
    assert client.get(f"/v1/payouts/{payout_id}", headers=shop.auth).json()["status"] == (
        "succeeded"
    )
    assert wallet(client, shop) | {"account_id": None} == {
        "account_id": None,
        "currency": "CNY",
        "balance": 4_000,
        "held": 0,
        "available": 4_000,
    }
    assert ledger.check().ok
    assert_every_flow_id_is_reserved(ledger)


def assert_every_flow_id_is_reserved(ledger: Ledger) -> None:
    """What the flows left in the ledger lies in their namespaces, with origin `flow`."""
    accounts = ledger.list_accounts(limit=200).accounts
    transfers = {e.transfer_id for a in accounts for e in ledger.entries(a.id, limit=200).entries}
    assert accounts and transfers
    assert [a.id for a in accounts if a.origin is not AccountOrigin.FLOW] == []
    assert [a.id for a in accounts if not is_reserved_id(a.id)] == []
    assert sorted(t for t in transfers if not is_reserved_id(t)) == []


def test_a_merchant_cannot_mint_money_into_its_wallet_from_an_account_of_its_own(
    client: TestClient, shop: Tenant, alpha: ScriptedChannel
) -> None:
    paid_payin(client, shop)
    open_api_account(client, "acct_mint", shop.auth)  # no limit: it may go negative
    wallet_id = books.wallet_account(shop.id, "CNY")

    minted = post(client, move("tr_mint", "acct_mint", wallet_id, amount=1_000_000), auth=shop.auth)
    payout = client.post("/v1/payouts", json=payout_body(amount=20_000), headers=shop.headers())

    assert results(minted) == ["credit_account_not_found"]
    assert payout.status_code == 422 and payout.json()["code"] == "insufficient_balance"
    assert [call for call in alpha.calls if call[0] == "payout"] == []


@pytest.mark.parametrize("action", [void, post_hold])
def test_an_admin_key_cannot_post_or_void_a_payouts_hold_either(
    client: TestClient, shop: Tenant, ledger: Ledger, action: Any
) -> None:
    payout_id = payout_in_flight(client, shop)

    answer = post(client, action("tr_admin_1", f"tr_{payout_id}_hold"))

    assert results(answer) == ["pending_transfer_not_found"]
    hold = ledger.get_transfer(f"tr_{payout_id}_hold")
    assert hold is not None and hold.status == "pending"
    assert notify(client, payout_id, operation="payout").status_code == 200


def test_a_refunds_hold_is_out_of_reach_of_the_merchant_and_the_platform(
    client: TestClient, shop: Tenant, ledger: Ledger
) -> None:
    payin_id = paid_payin(client, shop)
    refund = client.post(
        f"/v1/payins/{payin_id}/refunds", json={"amount": 3_000}, headers=shop.headers()
    )
    assert refund.status_code == 201, refund.text
    hold_id = f"tr_{refund.json()['id']}_hold"

    by_merchant = post(
        client, void("tr_m_1", hold_id), post_hold("tr_m_2", hold_id), auth=shop.auth
    )
    by_admin = post(client, void("tr_a_1", hold_id), post_hold("tr_a_2", hold_id))

    assert results(by_merchant) == ["pending_transfer_not_found"] * 2
    assert results(by_admin) == ["pending_transfer_not_found"] * 2
    hold = ledger.get_transfer(hold_id)
    assert hold is not None and hold.status == "pending"


# -- every flow's accounts and holds, whatever the flow ----------------------------------------


@pytest.fixture
def flow_books(ledger: Ledger) -> None:
    """What any flow leaves behind: its accounts (opened through the service) and a hold
    between them, the way split freezes a leg or custody holds a deposit."""
    ledger.create_accounts(
        [
            AccountRequest(id="acct_splitcom_CNY", currency="CNY", code=4002),
            AccountRequest(id="acct_mw_flowshop_CNY", currency="CNY", owner_id="flowshop"),
            AccountRequest(id="acct_uw_flowuser", currency="CNY", owner_id="flowshop:u1"),
        ]
    )
    legs = [
        TransferRequest(
            id="tr_seed_flow",
            debit_account_id="acct_splitcom_CNY",
            credit_account_id="acct_mw_flowshop_CNY",
            amount=1_000,
            currency="CNY",
        ),
        TransferRequest(
            id="tr_srl_flow_hold",
            debit_account_id="acct_mw_flowshop_CNY",
            credit_account_id="acct_uw_flowuser",
            amount=400,
            currency="CNY",
            flags=TransferFlags.PENDING.value,
        ),
    ]
    assert [r.result for r in ledger.create_transfers(legs)] == ["created", "created"]


@pytest.mark.usefixtures("flow_books")
@pytest.mark.parametrize("action", [void, post_hold])
def test_no_key_posts_or_voids_a_hold_a_flow_made(
    client: TestClient, ledger: Ledger, action: Any
) -> None:
    answer = post(client, action("tr_try_1", "tr_srl_flow_hold"))

    assert results(answer) == ["pending_transfer_not_found"]
    hold = ledger.get_transfer("tr_srl_flow_hold")
    assert hold is not None and hold.status == "pending"


@pytest.mark.usefixtures("flow_books")
@pytest.mark.parametrize(
    ("flags", "debit", "credit", "expected"),
    [
        ([], "acct_mw_flowshop_CNY", "acct_api", "debit_account_not_found"),
        ([], "acct_api", "acct_splitcom_CNY", "credit_account_not_found"),
        (["pending"], "acct_mw_flowshop_CNY", "acct_api", "debit_account_not_found"),
        (["pending"], "acct_api", "acct_uw_flowuser", "credit_account_not_found"),
        (["balancing_debit"], "acct_mw_flowshop_CNY", "acct_api", "debit_account_not_found"),
        (["balancing_credit"], "acct_api", "acct_splitcom_CNY", "credit_account_not_found"),
    ],
)
def test_no_key_moves_money_into_or_out_of_a_flows_account(
    client: TestClient,
    ledger: Ledger,
    flags: list[str],
    debit: str,
    credit: str,
    expected: str,
) -> None:
    open_api_account(client, "acct_api", {})

    answer = post(client, move("tr_try_2", debit, credit, flags=flags))

    assert results(answer) == [expected]
    assert ledger.get_transfer("tr_try_2") is None
    account = ledger.get_account("acct_mw_flowshop_CNY")
    assert account is not None and account.credits_posted == 1_000


@pytest.mark.usefixtures("flow_books")
def test_a_linked_chain_touching_a_flows_account_applies_nothing(
    client: TestClient, ledger: Ledger
) -> None:
    open_api_account(client, "acct_api", {})
    open_api_account(client, "acct_api2", {})

    answer = post(
        client,
        move("tr_chain_1", "acct_api", "acct_api2", flags=["linked"]),
        move("tr_chain_2", "acct_mw_flowshop_CNY", "acct_api"),
    )

    assert results(answer) == ["linked_event_failed", "debit_account_not_found"]
    assert ledger.get_transfer("tr_chain_1") is None


def test_the_payment_flows_system_accounts_are_out_of_reach(
    client: TestClient, shop: Tenant
) -> None:
    paid_payin(client, shop)
    open_api_account(client, "acct_api", {})
    system = [
        books.clearing_account("alpha", "CNY"),
        books.fee_account("CNY"),
        books.transit_account("CNY"),
        books.wallet_account(shop.id, "CNY"),
    ]

    answers = [
        results(post(client, move(f"tr_sys_{i}", a, "acct_api"))) for i, a in enumerate(system)
    ]

    assert answers == [["debit_account_not_found"]] * len(system)


# -- namespaces: no caller claims a flow's ids ---------------------------------------------------


@pytest.mark.parametrize(
    "account_id", ["acct_mw_someone_CNY", "acct_fee_CNY", "acct_clr_alpha_CNY", "acct_cs_abc"]
)
def test_no_key_opens_an_account_in_a_flows_namespace(
    client: TestClient, shop: Tenant, ledger: Ledger, account_id: str
) -> None:
    by_admin = client.post("/v1/accounts", json={"id": account_id, "currency": "CNY"})
    by_merchant = client.post(
        "/v1/accounts", json={"id": account_id, "currency": "CNY"}, headers=shop.auth
    )

    for answer in (by_admin, by_merchant):
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "id_reserved"
    assert ledger.get_account(account_id) is None


@pytest.mark.parametrize("transfer_id", ["tr_po_0ABC_hold", "tr_cus_r1_in0", "tr_rw_abc"])
def test_no_key_creates_a_transfer_under_a_flows_id(
    client: TestClient, ledger: Ledger, transfer_id: str
) -> None:
    open_api_account(client, "acct_a", {})
    open_api_account(client, "acct_b", {})

    answer = post(client, move(transfer_id, "acct_a", "acct_b", flags=["pending"]))

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "id_reserved"
    assert ledger.get_transfer(transfer_id) is None


def test_every_flows_account_and_transfer_ids_lie_in_a_reserved_namespace() -> None:
    bank = CustodyBank(name="icbc", currency="CNY", products=("rent",))
    accounts = [
        books.wallet_account("m1", "CNY"),
        books.clearing_account("alpha", "CNY"),
        books.fee_account("CNY"),
        books.transit_account("CNY"),
        commission_account("CNY"),
        wallets.wallet_account("m1", "u1", "CNY"),
        wallets.receivable_account("m1", "u1", "CNY"),
        rewards.budget_account("m1", "b1"),
        custody.pool_account(bank),
        custody.funding_account(bank),
        custody.subaccount_id(bank, "m1", "u1"),
        suspense_account("CNY"),
    ]
    transfers = [
        *(f"tr_{ids.new_id(prefix)}_hold" for prefix in ID_PREFIX.values()),
        f"tr_{split_id_for('pay_1')}_1_alice",
        # Spelled as collection/bookkeeping.py, wallets/service.py and recon/breaks.py build
        # them (their builders need a whole plan or break); the payment test below checks
        # what a real run leaves in the ledger.
        "tr_col_att1_net",
        "tr_top_abc",
        ids.new_id("tr_rpy"),
        rewards.fund_transfer_id("m1", "b1", "r1"),
        rewards.withdraw_transfer_id("m1", "b1", "r1"),
        rewards.reward_transfer_id("m1", "bt1", 1, 0),
        custody.receipt_transfer_id("rcp_1", "in", 0),
        "tr_adj_brk1_0",
        "tr_susp_brk1",
    ]

    assert [a for a in accounts if not is_reserved_id(a)] == []
    assert [t for t in transfers if not is_reserved_id(t)] == []
    assert not is_reserved_id(ids.new_id("acct")) and not is_reserved_id("tr_1")


def test_a_flow_never_adopts_an_account_opened_through_the_api(ledger: Ledger) -> None:
    ledger.create_account(
        AccountRequest(id="acct_legacy", currency="CNY", origin=AccountOrigin.API)
    )

    with pytest.raises(Rejected) as refused:
        ledger.create_account(AccountRequest(id="acct_legacy", currency="CNY"))

    assert refused.value.code == "exists_with_different_origin"
