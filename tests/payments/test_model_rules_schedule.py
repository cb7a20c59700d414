"""payments/model.py beyond the input rules: when the janitor asks a channel again, what
is left to refund, which failures never reached a bank, and the success rates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.channels.config import QUERY_SCHEDULE_DEFAULT_S
from paycore.channels.model import FailureClass
from paycore.payments.model import (
    Failure,
    Order,
    OrderKind,
    OrderStatus,
    RateRow,
    never_reached_bank,
    next_query_at,
)
from tests.payments.orders import NOW, order

SCHEDULE = (60, 300, 1800, 7200)  # the README's: 1 min, 5 min, 30 min, 2 h, then every 2 h


# -- the janitor's schedule -------------------------------------------------------------


def test_the_default_schedule_is_the_one_the_readme_promises() -> None:
    assert QUERY_SCHEDULE_DEFAULT_S == SCHEDULE


@pytest.mark.parametrize("kind", list(OrderKind))
@pytest.mark.parametrize(
    ("attempts", "wait"),
    [
        (0, timedelta(minutes=1)),
        (1, timedelta(minutes=5)),
        (2, timedelta(minutes=30)),
        (3, timedelta(hours=2)),  # the last step
        (4, timedelta(hours=2)),  # one past it: the last step repeats
        (5, timedelta(hours=2)),
        (1_000, timedelta(hours=2)),
    ],
)
def test_the_janitor_asks_again_after_the_step_for_the_tries_so_far(
    kind: OrderKind, attempts: int, wait: timedelta
) -> None:
    assert next_query_at(order(kind, attempts=attempts), NOW, SCHEDULE) == NOW + wait


@pytest.mark.parametrize("attempts", [0, 1, 5])
def test_a_one_step_schedule_repeats_its_only_step(attempts: int) -> None:
    assert next_query_at(order(attempts=attempts), NOW, (45,)) == NOW + timedelta(seconds=45)


def test_a_payin_is_asked_again_no_later_than_its_expiry() -> None:
    expiry = NOW + timedelta(seconds=59)
    assert next_query_at(order(expires_at=expiry), NOW, SCHEDULE) == expiry


def test_a_payin_expiring_after_the_next_step_waits_for_the_step() -> None:
    expiry = NOW + timedelta(seconds=61)
    assert next_query_at(order(expires_at=expiry), NOW, SCHEDULE) == NOW + timedelta(seconds=60)


def test_a_payin_expiring_exactly_at_the_next_step_is_asked_then() -> None:
    expiry = NOW + timedelta(seconds=60)
    assert next_query_at(order(expires_at=expiry), NOW, SCHEDULE) == expiry


def test_a_payin_already_past_its_expiry_is_due_now_to_be_closed() -> None:
    expired = NOW - timedelta(hours=1)
    assert next_query_at(order(expires_at=expired), NOW, SCHEDULE) == NOW


@pytest.mark.parametrize("kind", [OrderKind.PAYOUT, OrderKind.REFUND])
def test_only_a_payin_is_pulled_forward_by_an_expiry(kind: OrderKind) -> None:
    # A payout or refund has no expiry; a stray one must not shorten its wait.
    soon = NOW + timedelta(seconds=5)
    assert next_query_at(order(kind, expires_at=soon), NOW, SCHEDULE) == NOW + timedelta(seconds=60)


@given(
    st.integers(0, 50),
    st.lists(st.integers(1, 86_400), min_size=1, max_size=16).map(tuple),
    st.one_of(st.none(), st.integers(-86_400, 7 * 86_400)),
)
def test_the_next_query_is_never_later_than_the_step_nor_before_now(
    attempts: int, schedule: tuple[int, ...], expires_in_s: int | None
) -> None:
    expiry = None if expires_in_s is None else NOW + timedelta(seconds=expires_in_s)
    due = next_query_at(order(attempts=attempts, expires_at=expiry), NOW, schedule)
    step = schedule[attempts] if attempts < len(schedule) else schedule[-1]
    assert NOW <= due <= NOW + timedelta(seconds=step)
    if expiry is None or expiry >= NOW + timedelta(seconds=step):
        assert due == NOW + timedelta(seconds=step)


# -- what is left to refund -------------------------------------------------------------


@pytest.mark.parametrize(("refunded", "left"), [(0, 10_000), (1, 9_999), (10_000, 0)])
def test_a_paid_payin_can_refund_what_was_paid_less_what_was_refunded(
    refunded: int, left: int
) -> None:
    paid = order(status=OrderStatus.SUCCEEDED, amount=10_000, refunded=refunded)
    assert paid.refundable == left


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.SUCCEEDED])
def test_a_payin_that_was_not_paid_has_nothing_refundable(status: OrderStatus) -> None:
    assert order(status=status).refundable == 0


@pytest.mark.parametrize("kind", [OrderKind.PAYOUT, OrderKind.REFUND])
@pytest.mark.parametrize("status", list(OrderStatus))
def test_a_payout_or_refund_has_nothing_refundable(kind: OrderKind, status: OrderStatus) -> None:
    assert order(kind, status).refundable == 0


# -- failures that never reached a bank -------------------------------------------------


def failed(code: str, status: OrderStatus = OrderStatus.FAILED) -> Order:
    return order(status=status, failure=Failure(FailureClass.CHANNEL, code))


@pytest.mark.parametrize(
    "code", ["not_received", "not_sent", "all_channels_unavailable", "no_channel_available"]
)
def test_a_failure_no_channel_processed_never_reached_a_bank(code: str) -> None:
    assert never_reached_bank(failed(code))


@pytest.mark.parametrize("code", ["insufficient_funds", "declined", "not_received_x", ""])
def test_a_failure_a_channel_processed_may_have_reached_a_bank(code: str) -> None:
    assert not never_reached_bank(failed(code))


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.FAILED])
def test_only_a_failed_order_can_have_never_reached_a_bank(status: OrderStatus) -> None:
    assert not never_reached_bank(failed("not_received", status))


def test_a_failed_order_without_a_recorded_failure_is_not_known_to_be_unreached() -> None:
    assert not never_reached_bank(order(status=OrderStatus.FAILED))


# -- success rates ----------------------------------------------------------------------


def row(**counts: int) -> RateRow:
    zero = dict.fromkeys(
        ("succeeded", "failed_user", "failed_merchant", "failed_channel", "failed_system"), 0
    )
    zero |= {"unresolved": 0}
    return RateRow(
        day="2026-03-02", kind="payin", product="rent", channel="alpha", **(zero | counts)
    )


def test_every_decided_attempt_counts_in_the_raw_rate_but_not_unresolved_or_unavailable() -> None:
    r = row(succeeded=2, failed_user=3, failed_merchant=5, failed_channel=7, failed_system=11,
            unresolved=13, unavailable=17)  # fmt: skip
    assert r.decided == 28
    assert r.raw_rate == 2 / 28


def test_failures_the_payer_or_merchant_caused_do_not_count_in_the_effective_rate() -> None:
    r = row(succeeded=2, failed_user=3, failed_merchant=5, failed_channel=7, failed_system=11,
            unresolved=13, unavailable=17)  # fmt: skip
    assert r.effective_rate == 2 / 20


def test_a_day_with_nothing_decided_has_no_rate_rather_than_zero() -> None:
    r = row(unresolved=4, unavailable=2)
    assert (r.decided, r.raw_rate, r.effective_rate) == (0, None, None)


def test_a_day_of_only_payer_failures_has_a_raw_rate_but_no_effective_rate() -> None:
    r = row(failed_user=3, failed_merchant=1)
    assert (r.raw_rate, r.effective_rate) == (0.0, None)


def test_a_day_of_only_successes_rates_one() -> None:
    assert (row(succeeded=9).raw_rate, row(succeeded=9).effective_rate) == (1.0, 1.0)
