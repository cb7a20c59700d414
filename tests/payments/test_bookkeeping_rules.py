"""The transfers each order step posts (payments/bookkeeping.py), called directly.

Account and transfer ids are pinned letter for letter: the ledger already holds them, and
a retried step finds its transfer by id. An id that changed would post the money twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.ledger.model import AccountFlags, TransferFlags, TransferRequest
from paycore.payments import bookkeeping as books
from paycore.payments.model import Order, OrderKind, OrderStatus

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
META = {"order_id": "po_7", "merchant_id": "m1"}
LINKED = TransferFlags.LINKED.value


def order(amount: int = 10_000, fee: int = 0, *, id: str = "po_7") -> Order:
    return Order(
        id=id,
        kind=OrderKind.PAYOUT,
        merchant_id="m1",
        product="rent",
        amount=amount,
        currency="CNY",
        status=OrderStatus.PROCESSING,
        created_at=NOW,
        updated_at=NOW,
        fee_amount=fee,
    )


def test_the_chart_codes_are_the_readme_ones_and_each_reason_its_own() -> None:
    codes = (books.CODE_CLEARING, books.CODE_WALLET, books.CODE_TRANSIT, books.CODE_FEE)
    assert codes == (1101, 2001, 2101, 4001)
    # Reasons are stored on every transfer in the journal: one code per kind of movement.
    reasons = {
        books.REASON_PAYIN,
        books.REASON_FEE,
        books.REASON_PAYOUT,
        books.REASON_PAYOUT_RETURN,
        books.REASON_REFUND,
    }
    assert len(reasons) == 5


def test_account_ids_name_the_owner_channel_and_currency() -> None:
    assert books.wallet_account("m1", "CNY") == "acct_mw_m1_CNY"
    assert books.clearing_account("alpha", "USD") == "acct_clr_alpha_USD"
    assert books.fee_account("CNY") == "acct_fee_CNY"
    assert books.transit_account("JPY") == "acct_transit_JPY"


def test_a_merchant_wallet_is_opened_owned_and_never_below_zero() -> None:
    request = books.wallet_request("m1", "CNY")
    assert (request.id, request.currency, request.code, request.owner_id) == (
        "acct_mw_m1_CNY",
        "CNY",
        2001,
        "m1",
    )
    assert request.flags is AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS


def test_an_order_touches_the_wallet_the_channels_clearing_the_fee_and_in_transit() -> None:
    assert books.account_specs(order(), "alpha") == [
        ("acct_mw_m1_CNY", 2001, "m1", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS.value),
        ("acct_clr_alpha_CNY", 1101, None, 0),
        ("acct_fee_CNY", 4001, None, 0),
        ("acct_transit_CNY", 2101, None, 0),
    ]


# -- pay-in capture ---------------------------------------------------------------------


def test_a_payin_with_a_fee_credits_the_net_and_the_fee_linked_together() -> None:
    cap, fee = books.payin_capture(order(10_000, fee=100), "alpha")
    assert cap == TransferRequest(
        id="tr_po_7_cap",
        debit_account_id="acct_clr_alpha_CNY",
        credit_account_id="acct_mw_m1_CNY",
        amount=9_900,
        currency="CNY",
        flags=LINKED,
        code=1,
        metadata=META,
        bank_confirmed=True,
    )
    assert fee == TransferRequest(
        id="tr_po_7_fee",
        debit_account_id="acct_clr_alpha_CNY",
        credit_account_id="acct_fee_CNY",
        amount=100,
        currency="CNY",
        code=2,
        metadata=META,
    )


def test_a_payin_without_a_fee_is_one_unlinked_transfer_to_the_wallet() -> None:
    (cap,) = books.payin_capture(order(10_000), "alpha")
    assert (cap.id, cap.amount, cap.flags, cap.bank_confirmed) == ("tr_po_7_cap", 10_000, 0, True)


def test_a_payin_whose_fee_is_all_of_it_posts_only_the_fee_unlinked() -> None:
    # A zero transfer is refused by the ledger, so the empty net leg is left out.
    (fee,) = books.payin_capture(order(100, fee=100), "alpha")
    assert (fee.id, fee.amount, fee.flags, fee.code) == ("tr_po_7_fee", 100, 0, 2)


@given(st.integers(1, 10**11).flatmap(lambda a: st.tuples(st.just(a), st.integers(0, a))))
def test_a_capture_moves_exactly_the_amount_out_of_clearing_in_one_linked_chain(
    amount_fee: tuple[int, int],
) -> None:
    amount, fee = amount_fee
    legs = books.payin_capture(order(amount, fee), "alpha")
    assert sum(t.amount or 0 for t in legs) == amount
    assert all(t.amount for t in legs)
    assert {t.debit_account_id for t in legs} == {"acct_clr_alpha_CNY"}
    # Every leg but the last links to the next; the last closes the chain.
    assert [t.flags for t in legs] == [LINKED] * (len(legs) - 1) + [0]


# -- holds on payouts and refunds -------------------------------------------------------


@pytest.mark.parametrize("reason", [books.REASON_PAYOUT, books.REASON_REFUND])
def test_a_hold_reserves_the_amount_from_the_wallet_into_transit_as_pending(reason: int) -> None:
    assert books.hold(order(2_500), reason=reason) == TransferRequest(
        id="tr_po_7_hold",
        debit_account_id="acct_mw_m1_CNY",
        credit_account_id="acct_transit_CNY",
        amount=2_500,
        currency="CNY",
        flags=TransferFlags.PENDING.value,
        code=reason,
        metadata=META,
    )


@pytest.mark.parametrize("reason", [books.REASON_PAYOUT, books.REASON_REFUND])
def test_success_posts_the_hold_linked_to_passing_the_money_to_the_channel(reason: int) -> None:
    post, out = books.settle_hold(order(2_500), "beta", reason=reason)
    assert post == TransferRequest(
        id="tr_po_7_post",
        pending_id="tr_po_7_hold",
        flags=TransferFlags.POST_PENDING.value | LINKED,
        metadata=META,
    )
    assert out == TransferRequest(
        id="tr_po_7_out",
        debit_account_id="acct_transit_CNY",
        credit_account_id="acct_clr_beta_CNY",
        amount=2_500,
        currency="CNY",
        code=reason,
        metadata=META,
    )


def test_failure_voids_the_hold() -> None:
    assert books.void_hold(order()) == TransferRequest(
        id="tr_po_7_void",
        pending_id="tr_po_7_hold",
        flags=TransferFlags.VOID_PENDING.value,
        metadata=META,
    )


def test_a_returned_payout_brings_the_amount_back_from_clearing_as_bank_confirmed() -> None:
    assert books.payout_return(order(2_500), "beta") == TransferRequest(
        id="tr_po_7_ret",
        debit_account_id="acct_clr_beta_CNY",
        credit_account_id="acct_mw_m1_CNY",
        amount=2_500,
        currency="CNY",
        code=4,
        metadata=META,
        bank_confirmed=True,
    )


def test_every_step_of_one_order_has_its_own_transfer_id() -> None:
    o = order(10_000, fee=100)
    ids = [t.id for t in books.payin_capture(o, "alpha")]
    ids += [books.hold(o, reason=3).id, books.void_hold(o).id, books.payout_return(o, "a").id]
    ids += [t.id for t in books.settle_hold(o, "alpha", reason=3)]
    assert len(ids) == len(set(ids)) == 7
    # And the same step of another order has another id.
    assert books.hold(order(id="po_8"), reason=3).id == "tr_po_8_hold"
