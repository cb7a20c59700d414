"""The input rules of a collection plan, at their exact limits: months, due days,
references, terms, fees and the largest-remainder split behind the fee.

Pure: every test calls collection/model.py directly and passes `today` explicitly, so
nothing here depends on the day the suite runs.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore import limits
from paycore.collection.model import (
    ATTEMPTS_MAX,
    PERIODS_MAX,
    RETRY_INTERVAL_S_MAX,
    RETRY_INTERVAL_S_MIN,
    Method,
    PlanStatus,
    allocate,
    check_reference,
    check_terms,
    fee_of,
    next_status,
    parse_due_day,
    parse_month,
)
from paycore.errors import Rejected
from tests.collection.conftest import terms

# The default terms' first period falls due on 2026-02-01 (Shanghai).
TODAY = date(2026, 1, 15)


def refusal(call: object, *args: object, **kwargs: object) -> str:
    """The stable code of the Rejected the call raises."""
    with pytest.raises(Rejected) as refused:
        call(*args, **kwargs)  # type: ignore[operator]
    return refused.value.code


def checked(has_card: bool = False, today: date = TODAY, **changes: object) -> int:
    return check_terms(terms(**changes), has_card=has_card, today=today)


# -- plan state machine -------------------------------------------------------------------


@pytest.mark.parametrize("status", list(PlanStatus))
@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
def test_every_action_from_every_status_is_allowed_or_refused_with_the_status_as_code(
    status: PlanStatus, action: str
) -> None:
    allowed = {
        ("pause", PlanStatus.ACTIVE): PlanStatus.PAUSED,
        ("resume", PlanStatus.PAUSED): PlanStatus.ACTIVE,
        ("cancel", PlanStatus.ACTIVE): PlanStatus.CANCELLED,
        ("cancel", PlanStatus.PAUSED): PlanStatus.CANCELLED,
    }
    if (action, status) in allowed:
        assert next_status(status, action) is allowed[(action, status)]
    else:
        with pytest.raises(Rejected) as refused:
            next_status(status, action)
        assert refused.value.code == f"plan_{status.value}"
        # The code names the status; the detail also says which action was refused.
        assert refused.value.detail == f"a {status.value} plan cannot {action}"


# -- months and due days --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "month"),
    [
        ("2000-01", date(2000, 1, 1)),  # the first business year, its first month
        ("2026-12", date(2026, 12, 1)),
        ("2099-12", date(2099, 12, 1)),  # the last business month
    ],
)
def test_a_start_month_in_the_business_years_is_the_first_of_that_month(
    text: str, month: date
) -> None:
    assert parse_month(text) == month


@pytest.mark.parametrize(
    "text",
    [
        "2026-00", "2026-13", "1999-12", "2026-1", " 2026-01", "2026-01\n",
        "\uff12\uff10\uff12\uff16-\uff11\uff11",  # full-width digits: not a month to parse
    ],
)  # fmt: skip
def test_a_start_month_that_is_no_yyyy_mm_of_a_business_year_is_invalid(text: str) -> None:
    assert refusal(parse_month, text) == "invalid_start_month"


def test_a_start_month_after_the_last_business_month_is_out_of_range() -> None:
    assert refusal(parse_month, "2100-01") == "date_out_of_range"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1", "1"),
        ("28", "28"),
        ("05", "5"),  # stored without the leading zero
        (7, "7"),  # a JSON number
        (" 9 ", "9"),
        (" last", "last"),
        ("last ", "last"),
        ("Last", "last"),
    ],
)
def test_due_days_are_normalised_to_a_plain_number_or_last(value: str | int, parsed: str) -> None:
    assert parse_due_day(value) == parsed


@pytest.mark.parametrize(
    "value", ["0", "29", 29, "-1", "1.5", "lastday", "LAST-", "²", "\u0661\u0662"]
)
def test_a_due_day_outside_1_to_28_or_last_is_invalid(value: str | int) -> None:
    assert refusal(parse_due_day, value) == "invalid_due_day"


@pytest.mark.parametrize("reference", [None, "a", "INV-2026.01:x_1", "r" * 64])
def test_a_missing_or_well_formed_reference_is_accepted(reference: str | None) -> None:
    check_reference(reference)


@pytest.mark.parametrize("reference", ["", "-lead", "with space", "r" * 65, "é"])
def test_a_malformed_reference_is_invalid(reference: str) -> None:
    assert refusal(check_reference, reference) == "invalid_reference"


# -- terms ----------------------------------------------------------------------------------


def test_good_terms_are_accepted_and_return_the_fee_of_one_period() -> None:
    # 5% of 3,000.00 CNY is 150.00, worked out by hand.
    assert checked() == 15_000


@pytest.mark.parametrize(
    ("changes", "has_card", "code"),
    [
        ({"landlord": "bad owner"}, False, "invalid_owner"),
        ({"amount": limits.PAYMENT_AMOUNT_MAX + 1}, False, "invalid_amount"),
        ({"amount": -1}, False, "invalid_amount"),
        ({"periods": PERIODS_MAX + 1}, False, "invalid_periods"),
        ({"max_attempts": 0}, False, "invalid_max_attempts"),
        ({"max_attempts": ATTEMPTS_MAX + 1}, False, "invalid_max_attempts"),
        ({"retry_interval_s": RETRY_INTERVAL_S_MIN - 1}, False, "invalid_retry_interval"),
        ({"retry_interval_s": RETRY_INTERVAL_S_MAX + 1}, False, "invalid_retry_interval"),
        ({"fee_bps": None, "fee_fixed": 300_000}, False, "fee_too_high"),  # fee == amount
        ({"fee_bps": None, "fee_fixed": -1}, False, "invalid_fee"),
        ({"fee_bps": -1}, False, "invalid_fee"),
    ],
)
def test_terms_one_past_each_limit_are_refused_with_its_code(
    changes: dict[str, Any], has_card: bool, code: str
) -> None:
    assert refusal(checked, has_card, **changes) == code


@pytest.mark.parametrize(
    ("changes", "fee"),
    [
        ({"amount": 1}, 0),  # 5% of one fen rounds to nothing
        ({"amount": limits.PAYMENT_AMOUNT_MAX}, limits.PAYMENT_AMOUNT_MAX // 20),
        ({"periods": 1}, 15_000),
        ({"periods": PERIODS_MAX}, 15_000),
        ({"periods": None}, 15_000),  # open-ended
        ({"max_attempts": 1}, 15_000),
        ({"max_attempts": ATTEMPTS_MAX}, 15_000),
        ({"retry_interval_s": RETRY_INTERVAL_S_MIN}, 15_000),
        ({"retry_interval_s": RETRY_INTERVAL_S_MAX}, 15_000),
        ({"fee_bps": None, "fee_fixed": 299_999}, 299_999),  # leaves the landlord one fen
        ({"fee_bps": None, "fee_fixed": 0}, 0),
        ({"fee_bps": None}, 0),
        ({"fee_bps": 0}, 0),
        ({"fee_bps": 9_999}, 299_970),  # 300,000 * 0.9999
    ],
)
def test_terms_exactly_at_each_limit_are_accepted(changes: dict[str, Any], fee: int) -> None:
    assert checked(**changes) == fee


def test_a_channel_plan_with_a_card_is_accepted_and_a_wallet_plan_with_one_is_not() -> None:
    assert checked(has_card=True, method=Method.CHANNEL) == 15_000
    assert refusal(checked, True, method=Method.WALLET) == "card_number_mismatch"
    assert refusal(checked, False, method=Method.CHANNEL) == "card_number_mismatch"


def test_a_first_period_may_fall_due_today_but_not_yesterday() -> None:
    first_due = date(2026, 2, 1)
    assert checked(today=first_due) == 15_000
    # The second period (2026-03-01) is still ahead; only the first one counts.
    assert refusal(checked, today=date(2026, 2, 2)) == "start_in_past"


def test_a_fixed_plan_must_end_by_the_last_business_month() -> None:
    # 2099-11 and 2099-12 are the last two months paycore schedules.
    november = date(2099, 11, 1)
    assert checked(start_month=november, periods=2, today=TODAY) == 15_000
    assert refusal(checked, start_month=november, periods=3) == "date_out_of_range"


def test_an_open_ended_plan_only_needs_its_first_period_in_the_business_years() -> None:
    assert checked(start_month=date(2099, 12, 1), periods=None) == 15_000
    assert refusal(checked, start_month=date(2100, 1, 1), periods=None) == "date_out_of_range"


# -- fees -----------------------------------------------------------------------------------


@given(amount=st.integers(1, limits.PAYMENT_AMOUNT_MAX), bps=st.integers(0, 9_999))
def test_a_percentage_fee_is_the_amount_times_bps_rounded_half_up(amount: int, bps: int) -> None:
    # Two parts by largest remainder: the fee gets the odd unit when its remainder is at
    # least half (ties go to the fee, the earlier part): round half up.
    assert fee_of(terms(amount=amount, fee_bps=bps)) == (amount * bps + 5_000) // 10_000


@pytest.mark.parametrize(
    ("amount", "bps", "fee"),
    [(1, 5_000, 1), (3, 5_000, 2), (1, 4_999, 0), (10_000, 1, 1), (19_999, 1, 2), (7, 0, 0)],
)
def test_percentage_fees_at_the_rounding_edge(amount: int, bps: int, fee: int) -> None:
    assert fee_of(terms(amount=amount, fee_bps=bps)) == fee


def test_no_fee_given_means_no_fee() -> None:
    assert fee_of(terms(amount=10_000, fee_bps=None, fee_fixed=None)) == 0


def test_a_fee_given_both_ways_is_ambiguous_even_when_zero() -> None:
    assert refusal(fee_of, terms(fee_bps=0, fee_fixed=0)) == "fee_ambiguous"


@pytest.mark.parametrize("bps", [10_000, 10_001])
def test_a_percentage_of_100_or_more_is_invalid(bps: int) -> None:
    assert refusal(fee_of, terms(fee_bps=bps)) == "invalid_fee"


# -- largest remainder ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (10, [1, 1, 1], [4, 3, 3]),  # a tie: the earlier part gets the odd unit
        (5, [1, 2], [2, 3]),  # 1.67 / 3.33: the first has the larger remainder
        (5, [2, 1], [3, 2]),  # 3.33 / 1.67: the second has
        (7, [0, 1], [0, 7]),
        (5, [1], [5]),
        (0, [3, 4], [0, 0]),
        (100, [50, 30, 20], [50, 30, 20]),
    ],
)
def test_largest_remainder_known_answers(total: int, weights: list[int], parts: list[int]) -> None:
    assert allocate(total, weights) == parts


@pytest.mark.parametrize("weights", [[0], [0, 0], [-1, 2], [2, -1]])
def test_weights_without_a_positive_sum_or_with_a_negative_one_are_a_programming_error(
    weights: list[int],
) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        allocate(10, weights)


@given(
    total=st.integers(0, 10**12),
    weights=st.lists(st.integers(0, 1_000), min_size=1, max_size=6).filter(lambda w: sum(w) > 0),
)
def test_only_the_parts_with_the_largest_remainders_are_rounded_up(
    total: int, weights: list[int]
) -> None:
    parts = allocate(total, weights)
    whole = sum(weights)
    remainders = [total * w % whole for w in weights]
    floors = [total * w // whole for w in weights]
    up = [i for i, (p, f) in enumerate(zip(parts, floors, strict=True)) if p == f + 1]
    down = [i for i, (p, f) in enumerate(zip(parts, floors, strict=True)) if p == f]

    assert len(up) + len(down) == len(weights)  # every part is its floor or one above
    assert len(up) == total - sum(floors)
    for i in up:
        for j in down:
            # An earlier part wins a tie; a later one needs a strictly larger remainder.
            assert remainders[i] > remainders[j] or (remainders[i] == remainders[j] and i < j)
