"""The pure rules of a plan: due dates, fees, retries and what each status allows."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.collection.model import (
    ATTEMPTS_MAX,
    Method,
    PeriodStatus,
    PlanStatus,
    after_failure,
    allocate,
    check_terms,
    due_at,
    due_date,
    fee_of,
    local_date,
    next_status,
    parse_due_day,
    parse_month,
)
from paycore.errors import Rejected
from tests.collection.conftest import SHANGHAI, terms

# Plans whose first 120 periods fall in the business years (limits.BUSINESS_DATE_MAX).
months = st.builds(date, st.integers(2020, 2089), st.integers(1, 12), st.just(1))
due_days = st.one_of(st.integers(1, 28).map(str), st.just("last"))


@given(start=months, due_day=due_days, period_no=st.integers(1, 120))
def test_every_period_falls_due_in_its_own_month_on_its_day_or_the_last(
    start: date, due_day: str, period_no: int
) -> None:
    plan_terms = terms(start_month=start, due_day=due_day, periods=None)

    due = due_date(plan_terms, period_no)
    following = due_date(plan_terms, period_no + 1)

    months_after_start = (due.year - start.year) * 12 + due.month - start.month
    assert months_after_start == period_no - 1
    last_day = calendar.monthrange(due.year, due.month)[1]
    assert due.day == (last_day if due_day == "last" else int(due_day))
    assert 28 <= (following - due).days <= 31
    assert following > due


@given(start=months, due_day=due_days, period_no=st.integers(1, 60))
def test_a_period_falls_due_at_midnight_shanghai_time(
    start: date, due_day: str, period_no: int
) -> None:
    plan_terms = terms(start_month=start, due_day=due_day, periods=None)

    at = due_at(plan_terms, period_no)

    assert at is not None and at.tzinfo is not None
    local = at.astimezone(SHANGHAI)
    assert (local.hour, local.minute, local.date()) == (0, 0, due_date(plan_terms, period_no))
    assert local_date(at - timedelta(microseconds=1)) == local.date() - timedelta(days=1)


@given(periods=st.integers(1, 120))
def test_a_fixed_plan_has_no_period_after_its_last(periods: int) -> None:
    plan_terms = terms(periods=periods)

    assert due_at(plan_terms, periods) is not None
    assert due_at(plan_terms, periods + 1) is None


@given(amount=st.integers(1, 10**11), bps=st.integers(0, 9_999))
def test_fee_and_landlord_net_always_sum_to_the_amount(amount: int, bps: int) -> None:
    fee = fee_of(terms(amount=amount, fee_bps=bps))
    exact_fee_times_10000 = amount * bps

    assert 0 <= fee <= amount
    assert abs(fee * 10_000 - exact_fee_times_10000) <= 5_000  # within half a minor unit
    assert fee + (amount - fee) == amount


@given(
    total=st.integers(0, 10**12),
    weights=st.lists(st.integers(0, 10_000), min_size=1, max_size=8).filter(lambda w: sum(w) > 0),
)
def test_largest_remainder_parts_sum_to_the_whole_and_stay_within_one_unit(
    total: int, weights: list[int]
) -> None:
    parts = allocate(total, weights)

    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part * sum(weights) - total * weight) < sum(weights)


def test_a_fixed_fee_is_taken_as_given_and_must_leave_the_landlord_something() -> None:
    assert fee_of(terms(fee_bps=None, fee_fixed=1_234)) == 1_234
    with pytest.raises(Rejected) as too_high:
        check_terms(terms(fee_bps=None, fee_fixed=300_000), has_card=False, today=date(2026, 1, 1))
    assert too_high.value.code == "fee_too_high"


@given(attempts_made=st.integers(1, ATTEMPTS_MAX), max_attempts=st.integers(1, ATTEMPTS_MAX))
def test_a_failed_attempt_is_retried_one_interval_later_until_the_last(
    attempts_made: int, max_attempts: int
) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    plan_terms = terms(max_attempts=max_attempts, retry_interval_s=86_400)

    status, retry_at = after_failure(plan_terms, attempts_made=attempts_made, now=now)

    if attempts_made >= max_attempts:
        assert (status, retry_at) == (PeriodStatus.FAILED, None)
    else:
        assert (status, retry_at) == (PeriodStatus.RETRYING, now + timedelta(days=1))


@pytest.mark.parametrize(
    ("current", "action", "outcome"),
    [
        (PlanStatus.ACTIVE, "pause", "paused"),
        (PlanStatus.PAUSED, "resume", "active"),
        (PlanStatus.ACTIVE, "cancel", "cancelled"),
        (PlanStatus.PAUSED, "cancel", "cancelled"),
        (PlanStatus.ACTIVE, "resume", "plan_active"),
        (PlanStatus.PAUSED, "pause", "plan_paused"),
        (PlanStatus.CANCELLED, "resume", "plan_cancelled"),
        (PlanStatus.CANCELLED, "cancel", "plan_cancelled"),
        (PlanStatus.COMPLETED, "pause", "plan_completed"),
    ],
)
def test_pause_resume_and_cancel_follow_the_plan_state_machine(
    current: PlanStatus, action: str, outcome: str
) -> None:
    try:
        assert next_status(current, action).value == outcome
    except Rejected as refusal:
        assert refusal.code == outcome


@pytest.mark.parametrize(
    ("changes", "has_card", "code"),
    [
        ({"tenant": "same", "landlord": "same"}, False, "tenant_is_landlord"),
        ({"tenant": "bad owner"}, False, "invalid_owner"),
        ({"amount": 0}, False, "invalid_amount"),
        ({"currency": "XXQ"}, False, "unknown_currency"),
        ({"periods": 0}, False, "invalid_periods"),
        ({"max_attempts": 9}, False, "invalid_max_attempts"),
        ({"retry_interval_s": 60}, False, "invalid_retry_interval"),
        ({"method": Method.CHANNEL}, False, "card_number_mismatch"),
        ({}, True, "card_number_mismatch"),
        ({"start_month": date(2025, 12, 1)}, False, "start_in_past"),
        ({"fee_bps": 100, "fee_fixed": 1}, False, "fee_ambiguous"),
        ({"fee_bps": 10_000}, False, "invalid_fee"),
    ],
)
def test_bad_terms_are_refused_with_a_stable_code(
    changes: dict[str, object], has_card: bool, code: str
) -> None:
    with pytest.raises(Rejected) as refused:
        check_terms(terms(**changes), has_card=has_card, today=date(2026, 1, 15))
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("text", "parsed"), [("1", "1"), ("28", "28"), ("last", "last"), ("LAST", "last")]
)
def test_due_days_are_1_to_28_or_last(text: str, parsed: str) -> None:
    assert parse_due_day(text) == parsed


@pytest.mark.parametrize("text", ["0", "29", "31", "first", ""])
def test_due_days_that_some_month_lacks_are_refused(text: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_due_day(text)
    assert refused.value.code == "invalid_due_day"


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-01", "1999-05", "2026/01"])
def test_start_months_are_yyyy_mm(text: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_month(text)
    assert refused.value.code == "invalid_start_month"
