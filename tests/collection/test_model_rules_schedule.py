"""The schedule rules of a collection plan at their edges: the last business month, month
arithmetic, due instants, retries, projected statuses, failure reasons and event payloads.

Pure and independent of the day the suite runs: every instant is given explicitly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.collection.model import (
    PeriodStatus,
    Plan,
    PlanStatus,
    add_months,
    after_failure,
    attempt_id,
    due_at,
    due_date,
    event_payload,
    failure_reason,
    is_finished,
    local_date,
    periods_in_range,
    projected_status,
)
from tests.collection.conftest import local, terms

CREATED = datetime(2026, 1, 10, tzinfo=UTC)


def plan(status: PlanStatus = PlanStatus.ACTIVE, **changes: Any) -> Plan:
    values: dict[str, Any] = {
        "id": "cp_1",
        "merchant_id": "m_1",
        "reference": None,
        "terms": terms(),
        "fee_amount": 15_000,
        "card_enc": None,
        "card_masked": None,
        "status": status,
        "next_period_no": 1,
        "next_due_at": local(2026, 2, 1),
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(changes)
    return Plan(**values)


# -- the last business month and month arithmetic --------------------------------------------


@pytest.mark.parametrize(
    ("start", "count"),
    [
        (date(2099, 12, 1), 1),
        (date(2099, 1, 1), 12),
        (date(2098, 12, 1), 13),
        (date(2026, 2, 1), 74 * 12 - 1),  # Feb 2026 .. Dec 2099: 11 + 73 * 12 months
        (date(2000, 1, 1), 100 * 12),
    ],
)
def test_periods_in_range_counts_months_up_to_december_2099_inclusive(
    start: date, count: int
) -> None:
    assert periods_in_range(start) == count


@pytest.mark.parametrize(
    ("month", "count", "expected"),
    [
        (date(2026, 2, 1), 0, date(2026, 2, 1)),
        (date(2026, 11, 1), 1, date(2026, 12, 1)),
        (date(2026, 12, 1), 1, date(2027, 1, 1)),
        (date(2026, 1, 1), -1, date(2025, 12, 1)),
        (date(2026, 3, 1), 22, date(2028, 1, 1)),
        (date(2026, 3, 1), 119, date(2036, 2, 1)),
    ],
)
def test_adding_months_lands_on_the_first_of_the_right_month(
    month: date, count: int, expected: date
) -> None:
    assert add_months(month, count) == expected


@given(
    year=st.integers(2000, 2090),
    month=st.integers(1, 12),
    a=st.integers(0, 60),
    b=st.integers(0, 60),
)
def test_adding_months_in_two_steps_is_adding_them_at_once(
    year: int, month: int, a: int, b: int
) -> None:
    start = date(year, month, 1)
    assert add_months(add_months(start, a), b) == add_months(start, a + b)
    end = add_months(start, a + b)
    assert (end.year - year) * 12 + end.month - month == a + b


@pytest.mark.parametrize(
    ("start", "due_day", "period_no", "expected"),
    [
        (date(2026, 2, 1), "last", 1, date(2026, 2, 28)),
        (date(2028, 2, 1), "last", 1, date(2028, 2, 29)),  # a leap year
        (date(2026, 1, 1), "last", 4, date(2026, 4, 30)),
        (date(2026, 1, 1), "15", 12, date(2026, 12, 15)),
        (date(2026, 1, 1), "28", 2, date(2026, 2, 28)),
    ],
)
def test_due_dates_known_answers(start: date, due_day: str, period_no: int, expected: date) -> None:
    assert due_date(terms(start_month=start, due_day=due_day), period_no) == expected


# -- due instants -----------------------------------------------------------------------------


def test_a_period_falls_due_at_16_00_utc_the_day_before_its_shanghai_date() -> None:
    at = due_at(terms(start_month=date(2026, 2, 1), due_day="1"), 2)
    assert at == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)


@pytest.fixture
def new_york_machine() -> Iterator[None]:
    """The machine's own time zone, which no business rule may depend on."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "America/New_York")
        time.tzset()
        yield
    time.tzset()


@pytest.mark.usefixtures("new_york_machine")
def test_due_instants_and_local_dates_ignore_the_machines_time_zone() -> None:
    at = due_at(terms(), 1)
    assert at is not None and at.utcoffset() == timedelta(0)
    assert at == datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
    assert local_date(datetime(2026, 1, 31, 16, 0, tzinfo=UTC)) == date(2026, 2, 1)


@pytest.mark.parametrize(
    ("utc", "shanghai_date"),
    [
        (datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC), date(2026, 1, 31)),
        (datetime(2026, 1, 31, 16, 0, tzinfo=UTC), date(2026, 2, 1)),
    ],
)
def test_the_local_date_turns_at_midnight_in_shanghai(utc: datetime, shanghai_date: date) -> None:
    assert local_date(utc) == shanghai_date


def test_an_open_ended_plan_ends_with_the_last_business_month() -> None:
    open_ended = terms(start_month=date(2099, 1, 1), periods=None)
    assert due_at(open_ended, 12) == local(2099, 12, 1)
    assert due_at(open_ended, 13) is None


def test_a_plan_stored_past_the_bound_has_no_period_after_the_last_business_month() -> None:
    # check_terms refuses such a plan now; one stored before the bound ends at it.
    stored = terms(start_month=date(2099, 11, 1), periods=5)
    assert due_at(stored, 2) == local(2099, 12, 1)
    assert due_at(stored, 3) is None


# -- retries, ids and completion -------------------------------------------------------------


def test_a_failure_before_the_last_attempt_retries_one_interval_later() -> None:
    now = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
    plan_terms = terms(max_attempts=3, retry_interval_s=3_600)
    assert after_failure(plan_terms, attempts_made=2, now=now) == (
        PeriodStatus.RETRYING,
        datetime(2026, 2, 1, 4, 0, tzinfo=UTC),
    )
    assert after_failure(plan_terms, attempts_made=3, now=now) == (PeriodStatus.FAILED, None)


def test_an_attempt_id_is_the_plan_the_period_and_the_attempt_number() -> None:
    assert attempt_id("cp_abc", 12, 3) == "cp_abc_12_3"


def test_the_landlord_gets_the_amount_less_the_fee() -> None:
    assert plan(fee_amount=15_000).landlord_net == 285_000


@pytest.mark.parametrize(
    ("periods", "next_due_at", "open_periods", "finished"),
    [
        (3, None, 0, True),
        (3, None, 1, False),  # the last period is still being collected
        (3, local(2026, 4, 1), 0, False),  # a period is still to fall due
        (None, None, 0, False),  # an open-ended plan never completes by itself
    ],
)
def test_a_fixed_plan_is_finished_when_no_period_is_left_or_open(
    periods: int | None, next_due_at: datetime | None, open_periods: int, finished: bool
) -> None:
    done = plan(terms=terms(periods=periods), next_due_at=next_due_at)
    assert is_finished(done, open_periods) is finished


# -- projected statuses -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [PlanStatus.CANCELLED, PlanStatus.COMPLETED])
def test_a_cancelled_or_completed_plan_reaches_no_further_period(status: PlanStatus) -> None:
    assert projected_status(plan(status), 3, local(2026, 1, 1)) is None


def test_a_period_past_the_plans_last_is_never_reached() -> None:
    assert projected_status(plan(), 4, local(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("status", "now", "projected"),
    [
        (PlanStatus.PAUSED, local(2026, 3, 1), PeriodStatus.SKIPPED),  # due exactly now
        (PlanStatus.PAUSED, local(2026, 3, 1) - timedelta(microseconds=1), PeriodStatus.UPCOMING),
        (PlanStatus.ACTIVE, local(2026, 3, 2), PeriodStatus.UPCOMING),
    ],
)
def test_a_period_due_while_the_plan_is_paused_is_skipped(
    status: PlanStatus, now: datetime, projected: PeriodStatus
) -> None:
    assert projected_status(plan(status), 2, now) is projected


# -- failure reasons and payloads --------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "reason"),
    [
        (["created", "exceeds_credits"], "insufficient_balance"),
        (["exists", "linked_event_failed", "id_already_failed"], "insufficient_balance"),
        (["debit_account_not_found", "linked_event_failed"], "tenant_wallet_missing"),
        (["linked_event_failed", "account_frozen"], "wallet_frozen"),
        (["linked_event_failed", "account_closed", "account_frozen"], "account_closed"),
        (["created", "exists", "linked_event_failed"], "linked_event_failed"),
        ([], "linked_event_failed"),
    ],
)
def test_the_reason_of_a_refused_collection_is_its_first_real_refusal_in_business_terms(
    results: list[str], reason: str
) -> None:
    assert failure_reason(results) == reason


def test_an_event_payload_describes_the_plan_and_its_money() -> None:
    payload = event_payload(plan(PlanStatus.PAUSED), period_no=2)
    assert payload == {
        "plan_id": "cp_1",
        "tenant": "tenant1",
        "landlord": "landlord1",
        "amount": 300_000,
        "currency": "CNY",
        "fee": 15_000,
        "landlord_net": 285_000,
        "status": "paused",
        "period_no": 2,
    }
