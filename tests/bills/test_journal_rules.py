"""bills.journal pinned by known answers: an account's normal side, the order behind a
payment transfer id, the gross/fee split of a pay-in and the running fold of the journal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paycore.bills.journal import (
    Fold,
    JournalEntry,
    OrderFacts,
    Part,
    debit_normal,
    order_id_of,
    parts_of,
)
from paycore.bills.model import Balances, Category, Movement
from paycore.chart import CODE_SUSPENSE
from paycore.payments.bookkeeping import CODE_CLEARING, CODE_WALLET

C = Category
AT = datetime(2026, 11, 3, tzinfo=UTC)
WALLET = "acct_wallet"
ORDERS = {"pay_01X": OrderFacts("rent", "alpha", 30), "pay_01Z": OrderFacts("tip", "beta", 0)}


def credit(posted: int, pending: int = 0) -> Balances:
    return Balances(credits_posted=posted, credits_pending=pending)


def entry(
    transfer_id: str, code: int, after: Balances, seq: int = 1, acct: str = WALLET
) -> JournalEntry:
    return JournalEntry(seq, acct, transfer_id, code, after, AT)


@pytest.mark.parametrize(
    ("code", "flags", "debit"),
    [
        (CODE_CLEARING, 0, True),
        (CODE_CLEARING, 1, True),
        (CODE_WALLET, 2, False),
        (CODE_WALLET, 0, False),
        (CODE_SUSPENSE, 3, False),
        (9999, 0, False),
        (9999, 1, False),
        (9999, 2, True),
        (9999, 3, True),
        (9999, 6, True),
    ],
)
def test_the_chart_names_an_accounts_normal_side_else_its_credit_guard_does(
    code: int, flags: int, debit: bool
) -> None:
    assert debit_normal(code, flags) is debit


@pytest.mark.parametrize(
    ("transfer_id", "order_id"),
    [
        ("tr_pay_01ABC_cap", "pay_01ABC"),
        ("tr_pay_01ABC", "pay_01ABC"),
        ("tr_pay_01ABC_fee_2", "pay_01ABC_fee"),
        ("tr_pay__cap", "pay_"),
        ("tr_pay_", "pay_"),
        ("tr_pay___", "pay__"),
        ("tr_po_01ABC_ret", "po_01ABC"),
        ("tr_po_01ABC", "po_01ABC"),
        ("tr_rf_01ABC_hold", "rf_01ABC"),
        ("tr_rf_01ABC_post_1", "rf_01ABC_post"),
        ("tr_spl_01ABC_x", None),
        ("tr_cus_01ABC_x", None),
        ("tr_payx_01ABC_cap", None),
        ("tr_pay01ABC_cap", None),
        ("xtr_pay_01ABC_cap", None),
        ("pay_01ABC", None),
        ("TR_PAY_01ABC_cap", None),
        ("", None),
    ],
)
def test_a_payment_flows_transfer_is_named_after_its_order_and_no_other_is(
    transfer_id: str, order_id: str | None
) -> None:
    assert order_id_of(transfer_id) == order_id


def test_a_payin_splits_into_its_gross_by_product_and_channel_and_the_fee_taken() -> None:
    got = parts_of(
        entry("tr_pay_01X_cap", 1, credit(1170)), credit(1000), debit_normal=False, orders=ORDERS
    )

    assert got == [
        Part((WALLET, C.PAYIN, "rent", "alpha"), 200, 0),
        Part((WALLET, C.FEE, "", ""), 0, 30),
    ]


def test_a_payin_of_one_cent_still_carries_its_fee() -> None:
    got = parts_of(entry("tr_pay_01X", 1, credit(1)), Balances(), debit_normal=False, orders=ORDERS)

    assert got == [
        Part((WALLET, C.PAYIN, "rent", "alpha"), 31, 0),
        Part((WALLET, C.FEE, "", ""), 0, 30),
    ]


def test_a_payin_without_a_fee_is_one_line_by_product_and_channel() -> None:
    got = parts_of(
        entry("tr_pay_01Z_cap", 1, credit(90)), credit(0), debit_normal=False, orders=ORDERS
    )

    assert got == [Part((WALLET, C.PAYIN, "tip", "beta"), 90, 0)]


def test_a_payin_leaving_an_account_takes_no_fee_line() -> None:
    # The clearing side of a capture: money out of a debit-normal account, no fee of its own.
    clearing = entry("tr_pay_01X_cap", 1, Balances(debits_posted=500, credits_posted=1500))
    got = parts_of(clearing, Balances(debits_posted=500), debit_normal=True, orders=ORDERS)

    assert got == [Part((WALLET, C.PAYIN, "rent", "alpha"), 0, 1500)]


def test_a_payin_of_an_unknown_order_is_one_line_without_product_or_channel() -> None:
    got = parts_of(
        entry("tr_pay_01Y_cap", 1, credit(70)), credit(0), debit_normal=False, orders=ORDERS
    )

    assert got == [Part((WALLET, C.PAYIN, "", ""), 70, 0)]


def test_other_lines_keep_their_whole_change_even_when_their_order_is_known() -> None:
    refund = entry("tr_rf_01X_post", 5, credit(400))
    fee = entry("tr_pay_01X_fee", 2, credit(970))

    assert parts_of(
        refund, credit(650), debit_normal=False, orders={"rf_01X": ORDERS["pay_01X"]}
    ) == [Part((WALLET, C.REFUND, "", ""), 0, 250)]
    assert parts_of(fee, credit(1000), debit_normal=False, orders=ORDERS) == [
        Part((WALLET, C.FEE, "", ""), 0, 30)
    ]


@pytest.mark.parametrize(("delta", "line"), [(1, C.SPLIT_RECEIVED), (-1, C.SPLIT_PAID)])
def test_the_side_of_a_split_share_is_the_sign_of_the_change(delta: int, line: Category) -> None:
    got = parts_of(
        entry("tr_spl_01X", 30, credit(100 + delta)), credit(100), debit_normal=False, orders={}
    )

    assert got == [Part((WALLET, line, "", ""), max(delta, 0), max(-delta, 0))]


def test_a_change_is_read_on_the_accounts_normal_side() -> None:
    after = Balances(debits_posted=40, credits_posted=0)

    assert parts_of(entry("tr_po_01X", 3, after), Balances(), debit_normal=True, orders={}) == [
        Part((WALLET, C.PAYOUT, "", ""), 40, 0)
    ]
    assert parts_of(entry("tr_po_01X", 3, after), Balances(), debit_normal=False, orders={}) == [
        Part((WALLET, C.PAYOUT, "", ""), 0, 40)
    ]


@pytest.mark.parametrize(
    ("before", "after"),
    [(credit(900), credit(900, pending=500)), (credit(0), credit(0)), (credit(7, 3), credit(7, 0))],
)
def test_a_hold_its_void_or_its_expiry_moves_no_posted_money_and_makes_no_line(
    before: Balances, after: Balances
) -> None:
    assert (
        parts_of(entry("tr_pay_01X_hold", 1, after), before, debit_normal=False, orders=ORDERS)
        == []
    )


def journal() -> list[JournalEntry]:
    other = "acct_other"
    return [
        entry("tr_pay_01X_cap", 1, credit(170), seq=3),
        entry("tr_pay_01X_hold", 1, credit(170, pending=9), seq=4),
        entry("tr_po_01P", 3, credit(120), seq=5),
        entry("tr_spl_01S", 30, Balances(debits_posted=8), seq=6, acct=other),
        entry("tr_pay_01Z_cap", 1, credit(220), seq=7),
        entry("tr_po_01Q", 3, credit(110), seq=9),
    ]


def test_a_fold_sums_each_line_and_keeps_each_accounts_last_snapshot_and_entry() -> None:
    fold = Fold({WALLET: False, "acct_other": True}, ORDERS, {})
    returned = [fold.add(e) for e in journal()]

    assert returned[0] == [
        Part((WALLET, C.PAYIN, "rent", "alpha"), 200, 0),
        Part((WALLET, C.FEE, "", ""), 0, 30),
    ]
    assert returned[1] == []
    assert fold.lines == {
        (WALLET, C.PAYIN, "rent", "alpha"): [200, 0, 1],
        (WALLET, C.FEE, "", ""): [0, 30, 1],
        (WALLET, C.PAYOUT, "", ""): [0, 160, 2],
        ("acct_other", C.SPLIT_RECEIVED, "", ""): [8, 0, 1],
        (WALLET, C.PAYIN, "tip", "beta"): [100, 0, 1],
    }
    assert fold.closing == {WALLET: credit(110), "acct_other": Balances(debits_posted=8)}
    assert fold.last_seq == {WALLET: 9, "acct_other": 6}
    assert fold.entries == 6


def test_a_fold_starts_from_the_opening_snapshots_it_is_given() -> None:
    fold = Fold({WALLET: False}, {}, {WALLET: credit(1000)})
    fold.add_all(
        [entry("tr_po_01P", 3, credit(900), seq=11), entry("tr_top_01T", 20, credit(950), seq=12)]
    )

    assert fold.lines == {
        (WALLET, C.PAYOUT, "", ""): [0, 100, 1],
        (WALLET, C.TOP_UP, "", ""): [50, 0, 1],
    }
    assert fold.closing == {WALLET: credit(950)} and fold.last_seq == {WALLET: 12}
    assert fold.entries == 2


def test_rolled_up_lines_add_to_the_folds_and_a_line_of_no_entries_is_not_shown() -> None:
    fold = Fold({WALLET: False}, ORDERS, {})
    fold.add_all(journal()[:1])
    fold.merge_lines(
        [
            ((WALLET, C.PAYIN, "rent", "alpha"), 1000, 3, 4),
            ((WALLET, C.REWARD, "", ""), 5, 0, 2),
            ((WALLET, C.OTHER, "", ""), 0, 0, 0),
        ]
    )

    assert fold.lines[(WALLET, C.PAYIN, "rent", "alpha")] == [1200, 3, 5]
    assert fold.lines[(WALLET, C.REWARD, "", "")] == [5, 0, 2]
    assert fold.movements() == {
        WALLET: (
            Movement(WALLET, C.FEE, "", "", 0, 30, 1),
            Movement(WALLET, C.PAYIN, "rent", "alpha", 1200, 3, 5),
            Movement(WALLET, C.REWARD, "", "", 5, 0, 2),
        )
    }


def test_movements_are_grouped_per_account_in_category_product_channel_order() -> None:
    fold = Fold({}, {}, {})
    fold.merge_lines(
        [
            (("b", C.PAYOUT, "", ""), 0, 1, 1),
            (("a", C.PAYIN, "rent", "beta"), 2, 0, 1),
            (("a", C.PAYIN, "rent", "alpha"), 3, 0, 1),
            (("a", C.PAYIN, "deposit", "zeta"), 4, 0, 1),
            (("a", C.FEE, "", ""), 0, 5, 1),
        ]
    )

    assert fold.movements() == {
        "a": (
            Movement("a", C.FEE, "", "", 0, 5, 1),
            Movement("a", C.PAYIN, "deposit", "zeta", 4, 0, 1),
            Movement("a", C.PAYIN, "rent", "alpha", 3, 0, 1),
            Movement("a", C.PAYIN, "rent", "beta", 2, 0, 1),
        ),
        "b": (Movement("b", C.PAYOUT, "", "", 0, 1, 1),),
    }
    assert Fold({}, {}, {}).movements() == {}
