"""Users' wallets: opening, reading, top-ups from the merchant, debts and their repayment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.ledger.model import TransferRequest
from paycore.runtime import Runtime
from paycore.wallets.model import receivable_account, repayable, wallet_account
from tests.payments.conftest import fund_merchant


@pytest.fixture
def funded(runtime: Runtime) -> str:
    """A merchant whose own wallet holds 1,000.00 CNY."""
    merchant, _ = runtime.merchants.create(name="Rent Co", fee_bps=0)
    fund_merchant(runtime.ledger, merchant.id, 100_000)
    return merchant.id


def test_a_new_wallet_is_empty_and_opening_it_again_changes_nothing(
    runtime: Runtime, funded: str
) -> None:
    first = runtime.wallets.open(funded, "tenant-1", "CNY")
    again = runtime.wallets.open(funded, "tenant-1", "CNY")

    assert first == again
    assert (first.balance, first.available, first.debt, first.allow_negative) == (0, 0, 0, False)


def test_a_wallet_opened_again_with_other_terms_is_refused(runtime: Runtime, funded: str) -> None:
    runtime.wallets.open(funded, "tenant-1", "CNY")

    with pytest.raises(Rejected) as refused:
        runtime.wallets.open(funded, "tenant-1", "CNY", allow_negative=True)

    assert refused.value.code == "wallet_exists_with_different_terms"


def test_two_merchants_users_with_the_same_reference_have_different_wallets(
    runtime: Runtime, funded: str
) -> None:
    other, _ = runtime.merchants.create(name="Other", fee_bps=0)
    runtime.wallets.open(funded, "u1", "CNY")

    assert runtime.wallets.find(other.id, "u1", "CNY") is None
    assert wallet_account(funded, "u1", "CNY") != wallet_account(other.id, "u1", "CNY")
    with pytest.raises(Rejected) as missing:
        runtime.wallets.get(other.id, "u1", "CNY")
    assert missing.value.code == "wallet_not_found"


@pytest.mark.parametrize("owner", ["", "a b", "x" * 33, "-lead", "名字"])
def test_an_owner_reference_outside_the_rules_is_refused(
    runtime: Runtime, funded: str, owner: str
) -> None:
    with pytest.raises(Rejected) as refused:
        runtime.wallets.open(funded, owner, "CNY")

    assert refused.value.code == "invalid_owner"


def test_a_top_up_moves_money_from_the_merchant_once_per_reference(
    runtime: Runtime, funded: str
) -> None:
    runtime.wallets.open(funded, "tenant-1", "CNY")

    first = runtime.wallets.top_up(funded, "tenant-1", "CNY", amount=2_500, reference="r1")
    again = runtime.wallets.top_up(funded, "tenant-1", "CNY", amount=2_500, reference="r1")

    assert first == again
    assert runtime.wallets.get(funded, "tenant-1", "CNY").balance == 2_500
    with pytest.raises(Rejected) as reused:
        runtime.wallets.top_up(funded, "tenant-1", "CNY", amount=9, reference="r1")
    assert reused.value.code == "reference_reused"


def test_a_top_up_beyond_the_merchants_wallet_is_refused_and_moves_nothing(
    runtime: Runtime, funded: str
) -> None:
    runtime.wallets.open(funded, "tenant-1", "CNY")

    with pytest.raises(Rejected) as refused:
        runtime.wallets.top_up(funded, "tenant-1", "CNY", amount=100_001, reference="big")

    assert refused.value.code == "insufficient_balance"
    assert runtime.wallets.get(funded, "tenant-1", "CNY").balance == 0
    with pytest.raises(Rejected) as retried:
        runtime.wallets.top_up(funded, "tenant-1", "CNY", amount=100_001, reference="big")
    assert retried.value.code == "reference_already_failed"


def test_a_debt_is_repaid_from_the_next_income_and_never_beyond_what_is_owed(
    runtime: Runtime, funded: str
) -> None:
    runtime.wallets.open(funded, "rcv", "CNY")
    owe(runtime, funded, "rcv", 3_000)
    income_from_elsewhere(runtime, funded, "rcv", 1_000, tag="1")

    first = runtime.wallets.repay_debt(funded, "rcv", "CNY")
    income_from_elsewhere(runtime, funded, "rcv", 5_000, tag="2")
    second = runtime.wallets.repay_debt(funded, "rcv", "CNY")
    third = runtime.wallets.repay_debt(funded, "rcv", "CNY")

    wallet = runtime.wallets.get(funded, "rcv", "CNY")
    assert (first, second, third) == (1_000, 2_000, 0)
    assert (wallet.balance, wallet.debt) == (3_000, 0)
    debts = runtime.wallets.statement(funded, "rcv", "CNY", debts=True).entries
    assert [e.amount for e in debts] == [2_000, 1_000, 3_000]
    assert runtime.ledger.check().ok


@given(available=st.integers(-(10**6), 10**6), debt=st.integers(0, 10**6))
def test_repayment_is_never_negative_nor_more_than_the_debt_or_the_wallet_holds(
    available: int, debt: int
) -> None:
    amount = repayable(available, debt)

    assert 0 <= amount <= debt
    assert amount <= max(available, 0)
    assert amount == debt or amount == max(available, 0)


def owe(runtime: Runtime, merchant_id: str, owner: str, amount: int) -> None:
    """Book a debt the way a split claw-back does: the user's receivable pays the merchant."""
    from paycore.payments import bookkeeping as books

    [result] = runtime.ledger.create_transfers(
        [
            TransferRequest(
                id=f"tr_test_debt_{owner}",
                debit_account_id=receivable_account(merchant_id, owner, "CNY"),
                credit_account_id=books.wallet_account(merchant_id, "CNY"),
                amount=amount,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created"


def test_a_debt_is_offset_from_any_income_by_the_sweep_and_by_a_top_up(
    runtime: Runtime, funded: str
) -> None:
    for owner in ("a", "b", "clear"):
        runtime.wallets.open(funded, owner, "CNY")
    owe(runtime, funded, "a", 1_500)
    owe(runtime, funded, "b", 800)
    income_from_elsewhere(runtime, funded, "a", 1_000)  # e.g. a reward: nothing repaid yet

    assert runtime.wallets.get(funded, "a", "CNY").debt == 1_500
    assert runtime.wallets.repay_debts() == 1_000
    assert runtime.wallets.repay_debts() == 0
    runtime.wallets.top_up(funded, "b", "CNY", amount=2_000, reference="b-income")

    a, b = runtime.wallets.get(funded, "a", "CNY"), runtime.wallets.get(funded, "b", "CNY")
    assert (a.balance, a.debt) == (0, 500)
    assert (b.balance, b.debt) == (1_200, 0)
    assert runtime.ledger.check().ok


def income_from_elsewhere(
    runtime: Runtime, merchant_id: str, owner: str, amount: int, *, tag: str = ""
) -> None:
    from paycore.payments import bookkeeping as books

    [result] = runtime.ledger.create_transfers(
        [
            TransferRequest(
                id=f"tr_test_income_{owner}{tag}",
                debit_account_id=books.wallet_account(merchant_id, "CNY"),
                credit_account_id=wallet_account(merchant_id, owner, "CNY"),
                amount=amount,
                currency="CNY",
            )
        ]
    )
    assert result.result == "created"
