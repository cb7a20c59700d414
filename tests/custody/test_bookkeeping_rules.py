"""Which ledger accounts and transfers custody posts, checked on the pure functions in
`paycore.custody.bookkeeping`: account ids, the two linked legs of every crossing, the
legs of a deal's close, derived transfer ids, and which ledger result sank a set."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.custody.bookkeeping import (
    close_legs,
    funding_account,
    into_custody,
    ledger_problem,
    out_of_custody,
    pool_account,
    receipt_transfer_id,
    subaccount_id,
)
from paycore.custody.model import CustodyBank, Deal, RestTo
from paycore.ledger.model import TransferFlags, TransferRequest, TransferResult

BANK = CustodyBank(name="bank_a", currency="CNY", products=("p",))
LINKED = TransferFlags.LINKED.value
# The ledger's reason codes custody posts with (the chart in bookkeeping's docstring).
INTO, OUT_OF, COMMISSION, DEAL_REST = 40, 41, 42, 43
META = {"receipt_id": "pi_1"}


def sub(merchant: str, owner: str, bank: CustodyBank = BANK) -> str:
    """The sub-account id, derived independently: BLAKE2b-96 of its parts, in hex."""
    raw = "|".join(("sub", bank.name, bank.currency, merchant, owner)).encode()
    return "acct_cs_" + hashlib.blake2b(raw, digest_size=12).hexdigest()


# -- accounts ----------------------------------------------------------------------------


def test_the_pool_and_funding_accounts_are_named_by_bank_and_currency() -> None:
    usd = CustodyBank(name="bank_b", currency="USD", products=("p",))
    assert (pool_account(BANK), funding_account(BANK)) == (
        "acct_cus_pool_bank_a_CNY",
        "acct_cus_fund_bank_a_CNY",
    )
    assert (pool_account(usd), funding_account(usd)) == (
        "acct_cus_pool_bank_b_USD",
        "acct_cus_fund_bank_b_USD",
    )


def test_a_subaccount_id_is_a_blake2b_digest_of_bank_currency_merchant_and_owner() -> None:
    found = subaccount_id(BANK, "mch_1", "alice")
    assert found == sub("mch_1", "alice")
    assert len(found) == len("acct_cs_") + 24


@given(merchant=st.text(max_size=30), owner=st.text(max_size=60))
def test_every_subaccount_id_fits_the_ledgers_64_characters(merchant: str, owner: str) -> None:
    found = subaccount_id(BANK, merchant, owner)
    assert found == sub(merchant, owner)
    assert len(found) <= 64


def test_each_part_of_a_subaccount_changes_its_id() -> None:
    usd = CustodyBank(name="bank_a", currency="USD", products=("p",))
    base = subaccount_id(BANK, "mch_1", "alice")
    others = {
        subaccount_id(usd, "mch_1", "alice"),
        subaccount_id(BANK, "mch_2", "alice"),
        subaccount_id(BANK, "mch_1", "bob"),
        subaccount_id(BANK, "mch_1a", "lice"),  # the parts are separated
    }
    assert base not in others and len(others) == 4


# -- crossing the custody boundary ---------------------------------------------------------


def test_money_into_custody_moves_wallet_to_subaccount_and_funding_to_pool_linked() -> None:
    legs = into_custody(
        BANK, transfer_id="tr_in", wallet="acct_w", subaccount="acct_s", amount=700, meta=META
    )
    assert legs == [
        TransferRequest(
            id="tr_in",
            debit_account_id="acct_w",
            credit_account_id="acct_s",
            amount=700,
            currency="CNY",
            flags=LINKED,
            code=INTO,
            metadata=META,
        ),
        TransferRequest(
            id="tr_inp",
            debit_account_id="acct_cus_pool_bank_a_CNY",
            credit_account_id="acct_cus_fund_bank_a_CNY",
            amount=700,
            currency="CNY",
            flags=0,
            code=INTO,
            metadata=META,
        ),
    ]


def test_money_out_of_custody_moves_subaccount_to_wallet_and_pool_to_funding_linked() -> None:
    legs = out_of_custody(
        BANK, transfer_id="tr_out", wallet="acct_w", subaccount="acct_s", amount=300, meta=META
    )
    assert legs == [
        TransferRequest(
            id="tr_out",
            debit_account_id="acct_s",
            credit_account_id="acct_w",
            amount=300,
            currency="CNY",
            flags=LINKED,
            code=OUT_OF,
            metadata=META,
        ),
        TransferRequest(
            id="tr_outp",
            debit_account_id="acct_cus_fund_bank_a_CNY",
            credit_account_id="acct_cus_pool_bank_a_CNY",
            amount=300,
            currency="CNY",
            flags=0,
            code=OUT_OF,
            metadata=META,
        ),
    ]


def test_a_crossing_of_zero_posts_nothing() -> None:
    args = {"transfer_id": "t", "wallet": "w", "subaccount": "s", "amount": 0, "meta": META}
    assert into_custody(BANK, **args) == []  # type: ignore[arg-type]
    assert out_of_custody(BANK, **args) == []  # type: ignore[arg-type]


@given(amount=st.integers(min_value=1, max_value=10**15), inward=st.booleans())
def test_every_crossing_moves_the_pool_by_what_the_subaccount_moves(
    amount: int, inward: bool
) -> None:
    move = into_custody if inward else out_of_custody
    legs = move(BANK, transfer_id="t", wallet="w", subaccount="s", amount=amount, meta=META)
    net: dict[str, int] = {}
    for leg in legs:
        assert leg.debit_account_id and leg.credit_account_id and leg.amount
        net[leg.debit_account_id] = net.get(leg.debit_account_id, 0) + leg.amount
        net[leg.credit_account_id] = net.get(leg.credit_account_id, 0) - leg.amount
    # The pool is debit-normal (its balance is debits - credits), the sub-account
    # credit-normal: both rise by the amount coming in, fall by the amount going out.
    signed = amount if inward else -amount
    assert net[pool_account(BANK)] == signed == -net["s"]
    assert [leg.flags for leg in legs] == [LINKED, 0]


# -- closing a deal ------------------------------------------------------------------------


def deal(deposit: int = 10_000, attempt: int = 1) -> Deal:
    return Deal(
        id="deal_1",
        merchant_id="mch_1",
        bank="bank_a",
        buyer="buyer",
        seller="seller",
        agency="agency",
        deposit_amount=deposit,
        currency="USD",  # the deal's own currency is what its legs carry
        funded_amount=deposit,
        status="open",
        created_at=datetime(2026, 3, 10, tzinfo=UTC),
        close_attempt=attempt,
    )


DEAL_META = {"deal_id": "deal_1", "merchant_id": "mch_1"}


def commission_leg(amount: int, flags: int, attempt: int = 1) -> TransferRequest:
    return TransferRequest(
        id=f"tr_cus_deal_1_c{attempt}_com",
        debit_account_id=sub("mch_1", "buyer"),
        credit_account_id=sub("mch_1", "agency"),
        amount=amount,
        currency="USD",
        flags=flags,
        code=COMMISSION,
        metadata=DEAL_META,
    )


def rest_leg(amount: int, attempt: int = 1) -> TransferRequest:
    return TransferRequest(
        id=f"tr_cus_deal_1_c{attempt}_rest",
        debit_account_id=sub("mch_1", "buyer"),
        credit_account_id=sub("mch_1", "seller"),
        amount=amount,
        currency="USD",
        flags=0,
        code=DEAL_REST,
        metadata=DEAL_META,
    )


def test_closing_to_the_seller_pays_the_agency_its_commission_and_the_seller_the_rest() -> None:
    legs = close_legs(BANK, deal(), commission=1_500, rest_to=RestTo.SELLER)
    assert legs == [commission_leg(1_500, LINKED), rest_leg(8_500)]


def test_closing_to_the_buyer_pays_only_the_commission_and_leaves_the_rest_with_the_buyer() -> None:
    legs = close_legs(BANK, deal(), commission=1_500, rest_to=RestTo.BUYER)
    assert legs == [commission_leg(1_500, 0)]


def test_a_close_without_commission_moves_only_the_rest() -> None:
    assert close_legs(BANK, deal(), commission=0, rest_to=RestTo.SELLER) == [rest_leg(10_000)]
    assert close_legs(BANK, deal(), commission=0, rest_to=RestTo.BUYER) == []


def test_a_commission_of_the_whole_deposit_leaves_no_rest_leg() -> None:
    legs = close_legs(BANK, deal(), commission=10_000, rest_to=RestTo.SELLER)
    assert legs == [commission_leg(10_000, 0)]


def test_a_second_close_attempt_gets_transfer_ids_of_its_own() -> None:
    legs = close_legs(BANK, deal(attempt=3), commission=1, rest_to=RestTo.SELLER)
    assert legs == [commission_leg(1, LINKED, attempt=3), rest_leg(9_999, attempt=3)]


# -- transfer ids and results --------------------------------------------------------------


def test_a_receipt_transfer_id_is_the_receipt_the_kind_and_the_attempt() -> None:
    assert receipt_transfer_id("pi_1", "in", 1) == "tr_cus_pi_1_in1"
    assert receipt_transfer_id("pi_9", "back", 12) == "tr_cus_pi_9_back12"


def results(*codes: str) -> list[TransferResult]:
    return [TransferResult(f"t{i}", code) for i, code in enumerate(codes)]


def test_a_set_whose_legs_all_landed_now_or_before_has_no_problem() -> None:
    assert ledger_problem(results("created", "exists", "created")) is None
    assert ledger_problem([]) is None


def test_the_leg_that_really_failed_is_named_not_the_legs_it_dragged_down() -> None:
    found = results("linked_event_failed", "exceeds_credits", "linked_event_failed")
    assert ledger_problem(found) == "exceeds_credits"


def test_the_first_real_failure_is_named_when_several_failed() -> None:
    assert ledger_problem(results("created", "account_frozen", "exceeds_credits")) == (
        "account_frozen"
    )


@pytest.mark.parametrize("codes", [("linked_event_failed",), ("created", "linked_event_failed")])
def test_a_set_with_only_linked_failures_is_named_linked_event_failed(
    codes: tuple[str, ...],
) -> None:
    assert ledger_problem(results(*codes)) == "linked_event_failed"
