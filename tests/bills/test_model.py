"""The pure rules of a bill: which line a balance change is, periods in Shanghai, the seal."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.bills.journal import JournalEntry, OrderFacts, order_id_of, parts_of
from paycore.bills.model import (
    AccountStatement,
    Balances,
    Category,
    Period,
    Statement,
    bill_day_of,
    classify,
    period_of,
    seal_hash,
    sealed_closings,
    statement_lines,
)
from paycore.errors import Rejected

AT = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("transfer_id", "code", "incoming", "category"),
    [
        ("tr_pay_01X_cap", 1, True, Category.PAYIN),
        ("tr_rf_01X_post", 5, False, Category.REFUND),
        ("tr_po_01X_post", 3, False, Category.PAYOUT),
        ("tr_po_01X_ret", 4, True, Category.PAYOUT_RETURN),
        ("tr_spl_01X", 30, True, Category.SPLIT_RECEIVED),
        ("tr_spl_01X", 30, False, Category.SPLIT_PAID),
        ("tr_adj_01X", 30, True, Category.ADJUSTMENT),
        ("tr_cus_01X", 41, False, Category.CUSTODY_REFUND),
        ("my_own_move", 7, True, Category.OWN_TRANSFER),
        ("tr_new_flow_1", 99, True, Category.OTHER),
    ],
)
def test_a_balance_change_is_classified_by_its_flow_code_and_side(
    transfer_id: str, code: int, incoming: bool, category: Category
) -> None:
    assert classify(transfer_id, code, incoming) is category


def test_a_payin_in_the_last_shanghai_half_hour_of_october_belongs_to_october() -> None:
    assert bill_day_of(datetime(2026, 10, 31, 15, 30, tzinfo=UTC)) == date(2026, 10, 31)
    assert bill_day_of(datetime(2026, 10, 31, 16, 0, tzinfo=UTC)) == date(2026, 11, 1)
    assert period_of("2026-11").start == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert len(period_of("2026-11").days) == 30
    assert period_of("2026-11-01").days == [date(2026, 11, 1)]


@pytest.mark.parametrize("label", ["2026-13", "2026-1", "26-11-01", "2026-02-30", "nope", ""])
def test_a_period_that_is_not_a_month_or_a_day_is_refused(label: str) -> None:
    with pytest.raises(Rejected):
        period_of(label)


def test_order_ids_come_from_the_payment_flows_transfer_ids_only() -> None:
    assert order_id_of("tr_pay_01ABC_cap") == "pay_01ABC"
    assert order_id_of("tr_rf_01ABC_hold") == "rf_01ABC"
    assert order_id_of("tr_spl_01ABC") is None


@given(
    net=st.integers(min_value=1, max_value=10**12),
    fee=st.integers(min_value=0, max_value=10**9),
    before=st.integers(min_value=0, max_value=10**12),
)
def test_a_payins_gross_and_fee_lines_add_up_to_what_the_wallet_got(
    net: int, fee: int, before: int
) -> None:
    entry = JournalEntry(
        1, "acct_mw_m_CNY", "tr_pay_01X_cap", 1, Balances(0, 0, 0, before + net), AT
    )
    orders = {"pay_01X": OrderFacts("rent", "alpha", fee)}

    parts = parts_of(entry, Balances(0, 0, 0, before), debit_normal=False, orders=orders)

    assert sum(p.amount_in - p.amount_out for p in parts) == net
    assert parts[0].key == ("acct_mw_m_CNY", Category.PAYIN, "rent", "alpha")
    assert parts[0].amount_in == net + fee


def test_a_hold_moves_no_posted_money_and_makes_no_line() -> None:
    entry = JournalEntry(2, "acct_mw_m_CNY", "tr_po_01X_hold", 3, Balances(500, 0, 0, 900), AT)
    assert parts_of(entry, Balances(0, 0, 0, 900), debit_normal=False, orders={}) == []


def statement_of(closing: Balances) -> Statement:
    account = AccountStatement("acct_a", "m", 2001, "CNY", False, Balances(), closing)
    return Statement("m", None, Period("2026-11", AT, AT), (account,), AT)


def test_a_sealed_statement_keeps_its_closing_balances_and_its_hash_chains() -> None:
    lines = statement_lines(statement_of(Balances(1, 2, 3, 40)))

    assert sealed_closings(lines) == {"acct_a": Balances(1, 2, 3, 40)}
    first = seal_hash(lines, None)
    assert seal_hash(lines, first) != first
    assert seal_hash(statement_lines(statement_of(Balances(1, 2, 3, 41))), None) != first
