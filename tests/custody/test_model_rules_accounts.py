"""Virtual account numbers, deal checks, cut-off report lines and the daily check, called
directly on the pure rules in `paycore.custody.model`."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.custody.model import (
    NEEDS_ATTENTION,
    REFUNDED,
    CustodyBank,
    CutoffRun,
    DailyCheck,
    Deal,
    ReportLine,
    check_close,
    check_deal_parties,
    check_virtual_account,
    line_is_settled,
    needs_attention,
    virtual_account_number,
)
from paycore.errors import Rejected

NOW = datetime(2026, 3, 10, 15, tzinfo=UTC)


def bank(name: str = "bank_a", prefix: str = "6228") -> CustodyBank:
    return CustodyBank(name=name, currency="CNY", products=("p",), virtual_account_prefix=prefix)


def code_of(call: object, *args: object) -> str:
    with pytest.raises(Rejected) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.code


# -- virtual account numbers ---------------------------------------------------------------


def expected_number(prefix: str, bank_name: str, merchant: str, owner: str) -> str:
    """The documented derivation, written out independently: BLAKE2b-96 of
    `va|bank|merchant|owner` read as a big-endian integer, its last 16 decimal digits,
    zero-padded, after the bank's prefix."""
    digest = hashlib.blake2b(f"va|{bank_name}|{merchant}|{owner}".encode(), digest_size=12)
    last16 = int.from_bytes(digest.digest(), "big") % 10_000_000_000_000_000
    return prefix + str(last16).rjust(16, "0")


def test_a_virtual_account_number_is_the_prefix_and_16_digits_of_a_blake2b_digest() -> None:
    number = virtual_account_number(bank(), "mch_1", "alice")
    assert number == expected_number("6228", "bank_a", "mch_1", "alice")
    assert len(number) == 20 and number.isdecimal()


def test_a_number_with_leading_zeros_keeps_all_16_digits() -> None:
    owner = next(
        f"owner-{i}"
        for i in itertools.count()
        if expected_number("", "bank_a", "mch_1", f"owner-{i}")[0] == "0"
    )
    number = virtual_account_number(bank(prefix="9"), "mch_1", owner)
    assert number == expected_number("9", "bank_a", "mch_1", owner)
    assert len(number) == 17 and number[1] == "0"


def test_bank_merchant_and_owner_each_change_the_number() -> None:
    base = virtual_account_number(bank(), "mch_1", "alice")
    assert virtual_account_number(bank("bank_b"), "mch_1", "alice") != base
    assert virtual_account_number(bank(), "mch_2", "alice") != base
    assert virtual_account_number(bank(), "mch_1", "bob") != base
    # The parts are separated: moving a character from one part to the next changes it.
    assert virtual_account_number(bank(), "mch_1a", "lice") != base


@given(
    prefix=st.from_regex(r"[0-9]{1,8}", fullmatch=True),
    merchant=st.text(min_size=1, max_size=20),
    owner=st.text(min_size=1, max_size=40),
)
def test_every_derived_number_is_one_the_custody_rules_accept(
    prefix: str, merchant: str, owner: str
) -> None:
    number = virtual_account_number(bank(prefix=prefix), merchant, owner)
    assert number == expected_number(prefix, "bank_a", merchant, owner)
    check_virtual_account(number)  # no error


@pytest.mark.parametrize("number", ["12345678", "0" * 8, "9" * 32, "6228" + "0" * 16])
def test_a_virtual_account_of_8_to_32_digits_is_accepted(number: str) -> None:
    check_virtual_account(number)  # no error


@pytest.mark.parametrize(
    "number",
    ["", "1234567", "9" * 33, "1234 5678", "1234567a", "+12345678", "12345678\n", "١٢٣٤٥٦٧٨"],
)
def test_any_other_virtual_account_is_invalid_virtual_account(number: str) -> None:
    assert code_of(check_virtual_account, number) == "invalid_virtual_account"


# -- deals -------------------------------------------------------------------------------


def deal(**changes: object) -> Deal:
    base = Deal(
        id="deal_1",
        merchant_id="mch_1",
        bank="bank_a",
        buyer="buyer",
        seller="seller",
        agency="agency",
        deposit_amount=10_000,
        currency="CNY",
        funded_amount=10_000,
        status="open",
        created_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_three_different_owners_may_make_a_deal() -> None:
    check_deal_parties("buyer", "seller", "agency")  # no error


@pytest.mark.parametrize(
    "parties", [("a", "a", "c"), ("a", "b", "a"), ("a", "b", "b"), ("a", "a", "a")]
)
def test_a_deal_where_one_owner_plays_two_parts_is_deal_parties_must_differ(
    parties: tuple[str, str, str],
) -> None:
    assert code_of(check_deal_parties, *parties) == "deal_parties_must_differ"


@pytest.mark.parametrize("commission", [0, 1, 9_999, 10_000])
def test_an_open_funded_deal_closes_with_a_commission_from_zero_to_the_deposit(
    commission: int,
) -> None:
    check_close(deal(), commission)  # no error


@pytest.mark.parametrize("commission", [-1, 10_001])
def test_a_commission_below_zero_or_above_the_deposit_is_invalid_commission(
    commission: int,
) -> None:
    assert code_of(check_close, deal(), commission) == "invalid_commission"


@pytest.mark.parametrize("funded", [0, 9_999, 10_001])
def test_a_deal_funded_other_than_exactly_its_deposit_is_deal_not_funded(funded: int) -> None:
    assert code_of(check_close, deal(funded_amount=funded), 0) == "deal_not_funded"


def test_a_closed_deal_is_deal_already_closed_before_anything_else_is_checked() -> None:
    closed = deal(status="closed", funded_amount=0)
    assert code_of(check_close, closed, -1) == "deal_already_closed"


def test_funding_is_checked_before_the_commission() -> None:
    assert code_of(check_close, deal(funded_amount=1), -1) == "deal_not_funded"


# -- cut-off report lines and runs ---------------------------------------------------------


def test_a_line_needing_attention_says_so_then_why() -> None:
    assert needs_attention("payout_failed") == "needs_attention:payout_failed"
    assert needs_attention("x").startswith(NEEDS_ATTENTION)


@pytest.mark.parametrize("outcome", [REFUNDED, "refunded", needs_attention("refund_refused")])
def test_a_refunded_line_or_one_handed_to_a_person_is_settled(outcome: str) -> None:
    assert line_is_settled(outcome)


@pytest.mark.parametrize(
    "outcome", ["", "pending", "refunding", "refund_failed", "refunded_later", "x_needs_attention"]
)
def test_any_other_line_outcome_is_not_settled(outcome: str) -> None:
    assert not line_is_settled(outcome)


def line(outcome: str) -> ReportLine:
    return ReportLine("pi_1", "alice", 100, "CNY", NOW, "unmatched", "re_1", outcome)


def run(status: str, *outcomes: str) -> CutoffRun:
    lines = tuple(line(o) for o in outcomes)
    return CutoffRun("bank_a", date(2026, 3, 10), status, NOW, NOW, len(lines), None, lines)


def test_a_completed_run_whose_lines_are_all_settled_is_complete() -> None:
    assert run("completed").is_complete
    assert run("completed", REFUNDED, needs_attention("refund_refused")).is_complete


def test_a_run_not_yet_completed_is_not_complete_even_with_settled_lines() -> None:
    assert not run("running", REFUNDED).is_complete
    assert not run("incomplete", REFUNDED).is_complete


def test_a_completed_run_with_a_line_still_pending_is_not_complete() -> None:
    assert not run("completed", REFUNDED, "pending").is_complete


# -- the daily check -----------------------------------------------------------------------


def check(subaccounts: int, pool: int, bank_balance: int | None) -> DailyCheck:
    return DailyCheck("chk_1", "bank_a", date(2026, 3, 10), subaccounts, pool, bank_balance, NOW)


def test_without_a_bank_balance_the_pool_is_compared_to_the_subaccounts() -> None:
    assert check(500, 500, None).ok
    found = check(500, 480, None)
    assert (found.compared_to, found.difference, found.ok) == (480, -20, False)


def test_with_a_bank_balance_the_banks_figure_is_compared() -> None:
    found = check(500, 500, 530)
    assert (found.compared_to, found.difference, found.ok) == (530, 30, False)
    assert check(500, 500, 500).ok


def test_a_bank_that_agrees_with_the_subaccounts_does_not_hide_a_pool_that_does_not() -> None:
    found = check(500, 490, 500)
    assert found.difference == 0
    assert not found.ok


def test_a_bank_balance_of_zero_is_compared_not_ignored() -> None:
    found = check(0, 0, 0)
    assert (found.compared_to, found.ok) == (0, True)
    assert check(10, 10, 0).difference == -10
