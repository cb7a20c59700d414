"""bills.model's statement rules pinned by known answers: balances on the normal side,
lines that add up, the flat lines a month is sealed as, and the seal against a SHA-256
computed by hand."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from paycore.bills.model import (
    AccountStatement,
    Balances,
    Category,
    Movement,
    Period,
    Statement,
    balances_list,
    seal_hash,
    sealed_closings,
    statement_lines,
    unbalanced,
)

C = Category
AT = datetime(2026, 11, 3, tzinfo=UTC)


def test_balances_read_on_the_normal_side_and_holds_count_both_ways() -> None:
    b = Balances(debits_pending=3, debits_posted=50, credits_pending=7, credits_posted=1200)

    assert b.posted(debit_normal=False) == 1150
    assert b.posted(debit_normal=True) == -1150
    assert b.on_hold() == 10
    assert Balances().posted(True) == Balances().posted(False) == 0
    assert balances_list(b) == [3, 50, 7, 1200]


def test_a_movement_nets_in_minus_out_and_finds_its_transfers_by_its_key() -> None:
    m = Movement("acct_w", C.PAYIN, "rent", "alpha", amount_in=900, amount_out=25, count=4)

    assert m.net == 875
    assert m.line_filter("2026-11") == {
        "period_label": "2026-11",
        "account_id": "acct_w",
        "category": "payin",
        "product": "rent",
        "channel": "alpha",
    }


def account(
    account_id: str = "acct_a",
    *,
    opening: Balances = Balances(),
    closing: Balances = Balances(),
    movements: tuple[Movement, ...] = (),
    adjustment: int = 0,
    debit_normal: bool = False,
) -> AccountStatement:
    return AccountStatement(
        account_id, "m", 2001, "CNY", debit_normal, opening, closing, movements, adjustment
    )


def test_a_statement_adds_up_when_opening_adjustment_and_movements_reach_the_closing() -> None:
    moves = (Movement("a", C.PAYIN, amount_in=700), Movement("a", C.PAYOUT, amount_out=200))
    fits = account(
        opening=Balances(credits_posted=100), closing=Balances(credits_posted=630),
        movements=moves, adjustment=30,
    )  # fmt: skip
    one_off = account(opening=Balances(credits_posted=100), closing=Balances(credits_posted=99))
    debit = account(
        opening=Balances(debits_posted=100), closing=Balances(debits_posted=160),
        movements=(Movement("a", C.OTHER, amount_in=61),), debit_normal=True,
    )  # fmt: skip

    assert fits.movements_net == 500
    assert fits.difference() == 0
    assert one_off.difference() == 1
    assert debit.difference() == 1
    assert account(adjustment=-1).difference() == -1
    assert unbalanced([fits, one_off, debit, account()]) == [one_off, debit]


def test_the_seal_is_sha256_of_the_previous_seal_then_each_line_as_sorted_compact_json() -> None:
    lines = [{"b": 2, "a": "中"}, {"line": "closing", "amount": -5, "balances": [0, 1]}]
    by_hand = hashlib.sha256(
        b"f00d" + b'{"a":"\\u4e2d","b":2}\n' + b'{"amount":-5,"balances":[0,1],"line":"closing"}\n'
    ).hexdigest()

    assert seal_hash(lines, "f00d") == by_hand
    assert seal_hash(iter(lines), "f00d") == by_hand
    assert seal_hash([], None) == seal_hash([], "") == hashlib.sha256(b"").hexdigest()
    assert seal_hash([{}], None) == hashlib.sha256(b"{}\n").hexdigest()


def test_a_statement_flattens_to_opening_adjustment_sorted_lines_closing_and_on_hold() -> None:
    wallet = account(
        "acct_b",
        opening=Balances(0, 10, 0, 110),
        closing=Balances(4, 10, 6, 410),
        movements=(
            Movement("acct_b", C.PAYOUT, amount_out=80, count=1),
            Movement("acct_b", C.PAYIN, "rent", "beta", amount_in=300, count=2),
            Movement("acct_b", C.PAYIN, "rent", "alpha", amount_in=50, count=1),
            Movement("acct_b", C.PAYIN, "deposit", "zeta", amount_in=20, count=1),
        ),
        adjustment=10,
    )
    receivable = account(
        "acct_a", opening=Balances(0, 3, 0, 1), closing=Balances(0, 7, 0, 2), debit_normal=True
    )
    statement = Statement("m", None, Period("2026-11", AT, AT), (wallet, receivable), AT)
    a = {"account_id": "acct_a", "currency": "CNY"}
    b = {"account_id": "acct_b", "currency": "CNY"}

    assert statement_lines(statement) == [
        {**a, "line": "opening", "amount": 2, "balances": [0, 3, 0, 1]},
        {**a, "line": "closing", "amount": 5, "balances": [0, 7, 0, 2]},
        {**a, "line": "on_hold", "amount": 0},
        {**b, "line": "opening", "amount": 100, "balances": [0, 10, 0, 110]},
        {**b, "line": "adjustment", "amount": 10},
        {**b, "line": "payin", "product": "deposit", "channel": "zeta",
         "amount_in": 20, "amount_out": 0, "count": 1},
        {**b, "line": "payin", "product": "rent", "channel": "alpha",
         "amount_in": 50, "amount_out": 0, "count": 1},
        {**b, "line": "payin", "product": "rent", "channel": "beta",
         "amount_in": 300, "amount_out": 0, "count": 2},
        {**b, "line": "payout", "product": "", "channel": "",
         "amount_in": 0, "amount_out": 80, "count": 1},
        {**b, "line": "closing", "amount": 400, "balances": [4, 10, 6, 410]},
        {**b, "line": "on_hold", "amount": 10},
    ]  # fmt: skip


def test_a_sealed_months_closings_are_read_back_from_its_closing_lines_only() -> None:
    lines: list[dict[str, object]] = [
        {"account_id": "acct_a", "line": "opening", "balances": [9, 9, 9, 9]},
        {"account_id": "acct_a", "line": "closing", "balances": [1, 2, 3, 4]},
        {"account_id": "acct_b", "line": "closing", "balances": [1, 2, 3]},
        {"account_id": "acct_c", "line": "closing", "balances": [1, 2, 3, 4, 5]},
        {"account_id": "acct_d", "line": "closing", "balances": "1,2,3,4"},
        {"account_id": "acct_e", "line": "closing", "amount": 4},
        {"account_id": "acct_f", "line": "closing", "balances": ["0", "0", "0", "70"]},
        {"account_id": "acct_a", "line": "on_hold", "balances": [5, 5, 5, 5]},
    ]

    assert sealed_closings(lines) == {
        "acct_a": Balances(1, 2, 3, 4),
        "acct_f": Balances(credits_posted=70),
    }
