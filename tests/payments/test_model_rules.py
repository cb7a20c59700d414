"""The input rules of payments/model.py, called directly: amounts, products, references,
pay-in expiry, the merchant fee and what a refund may be. Each bound is tried at exactly
the limit and one past it, and each refusal by its stable code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore import limits
from paycore.errors import Rejected
from paycore.payments.model import (
    OrderKind,
    OrderStatus,
    check_amount,
    check_product,
    check_reference,
    check_refund,
    check_refund_request,
    fee_for,
    payin_expiry,
)
from tests.payments.orders import NOW
from tests.payments.orders import order as any_order

# The refund rules read settled pay-ins: a succeeded order unless a test says otherwise.
order = functools.partial(any_order, status=OrderStatus.SUCCEEDED)


def refusal(call: Callable[..., object], *args: object) -> Rejected:
    with pytest.raises(Rejected) as refused:
        call(*args)
    # Every refusal explains itself to the merchant, not only by its code.
    assert refused.value.detail
    return refused.value


def code_of(call: Callable[..., object], *args: object) -> str:
    return refusal(call, *args).code


# -- amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1, 2, limits.PAYMENT_AMOUNT_MAX - 1, limits.PAYMENT_AMOUNT_MAX])
def test_an_amount_from_one_minor_unit_to_the_payment_maximum_is_accepted(amount: int) -> None:
    check_amount(amount, "CNY")


@pytest.mark.parametrize("amount", [0, -1, -limits.PAYMENT_AMOUNT_MAX])
def test_an_amount_of_zero_or_less_is_refused_as_not_positive(amount: int) -> None:
    assert code_of(check_amount, amount, "CNY") == "amount_must_be_positive"


@pytest.mark.parametrize("amount", [limits.PAYMENT_AMOUNT_MAX + 1, limits.AMOUNT_MAX])
def test_an_amount_past_the_payment_maximum_is_refused_as_too_large(amount: int) -> None:
    assert code_of(check_amount, amount, "CNY") == "amount_too_large"


@given(st.integers(-(2**64), 2**64))
def test_an_amount_is_accepted_exactly_when_it_lies_from_one_to_the_payment_maximum(
    amount: int,
) -> None:
    if 1 <= amount <= limits.PAYMENT_AMOUNT_MAX:
        check_amount(amount, "EUR")
    else:
        assert code_of(check_amount, amount, "EUR") in (
            "amount_must_be_positive",
            "amount_too_large",
        )


@pytest.mark.parametrize("currency", ["XXX", "cny", "CN", "ZZZ", ""])
def test_a_currency_that_is_not_iso_4217_money_is_refused_before_the_amount(
    currency: str,
) -> None:
    assert code_of(check_amount, 100, currency) == "unknown_currency"
    # The currency is judged first, even when the amount is wrong too.
    assert code_of(check_amount, 0, currency) == "unknown_currency"


def test_a_refusal_names_the_currency_or_the_maximum_it_broke() -> None:
    assert "'ZZZ'" in refusal(check_amount, 100, "ZZZ").detail
    too_large = refusal(check_amount, limits.PAYMENT_AMOUNT_MAX + 1, "CNY")
    assert str(limits.PAYMENT_AMOUNT_MAX) in too_large.detail


def test_the_maximum_is_accepted_in_a_currency_without_minor_units_as_well() -> None:
    check_amount(limits.PAYMENT_AMOUNT_MAX, "JPY")
    assert code_of(check_amount, limits.PAYMENT_AMOUNT_MAX + 1, "JPY") == "amount_too_large"


# -- products and references ------------------------------------------------------------


@pytest.mark.parametrize("product", ["a", "rent", "rent_2026", "a" + "b" * 31])
def test_a_product_of_lowercase_letters_digits_and_underscores_is_accepted(product: str) -> None:
    check_product(product)


@pytest.mark.parametrize(
    "product",
    ["", "Rent", "2rent", "_rent", "rent-x", "rent x", "rent\n", "a" + "b" * 32, "réserve"],
)
def test_any_other_product_is_refused_as_invalid(product: str) -> None:
    assert code_of(check_product, product) == "invalid_product"


@pytest.mark.parametrize("reference", [None, "A", "inv-2026.03:01_x", "R" * 64])
def test_a_missing_or_well_formed_merchant_reference_is_accepted(reference: str | None) -> None:
    check_reference(reference)


@pytest.mark.parametrize("reference", ["", "R" * 65, "inv 1", "inv/1", "inv1\n", "发票"])
def test_any_other_merchant_reference_is_refused_as_invalid(reference: str) -> None:
    assert code_of(check_reference, reference) == "invalid_merchant_reference"


# -- pay-in expiry ----------------------------------------------------------------------


def test_a_payin_without_an_expiry_expires_after_thirty_minutes() -> None:
    assert payin_expiry(NOW, None) == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [limits.PAYIN_EXPIRY_S_MIN, 3_600, limits.PAYIN_EXPIRY_S_MAX])
def test_an_expiry_from_one_minute_to_seven_days_is_taken_as_given(seconds: int) -> None:
    assert payin_expiry(NOW, seconds) - NOW == timedelta(seconds=seconds)


def test_the_expiry_bounds_are_one_minute_and_seven_days() -> None:
    # The README and the API document promise these; the limits module holds them.
    assert payin_expiry(NOW, 60) == datetime(2026, 3, 2, 9, 31, tzinfo=UTC)
    assert payin_expiry(NOW, 7 * 24 * 3600) == datetime(2026, 3, 9, 9, 30, tzinfo=UTC)


def test_an_expiry_refusal_names_both_bounds() -> None:
    detail = refusal(payin_expiry, NOW, 59).detail
    assert "60" in detail and str(7 * 24 * 3600) in detail


@pytest.mark.parametrize(
    "seconds", [limits.PAYIN_EXPIRY_S_MIN - 1, limits.PAYIN_EXPIRY_S_MAX + 1, 0, -60]
)
def test_an_expiry_outside_those_bounds_is_refused(seconds: int) -> None:
    assert code_of(payin_expiry, NOW, seconds) == "invalid_expiry"


# -- the merchant's fee -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "fee_bps", "fee"),
    [
        (10_000, 100, 100),  # 1% of 100.00 is 1.00
        (50, 100, 1),  # 0.50 of a minor unit: exactly half rounds up
        (49, 100, 0),  # 0.49 rounds down
        (4_999, 1, 0),  # 0.4999 rounds down
        (5_000, 1, 1),  # 0.5 rounds up
        (15_000, 1, 2),  # 1.5 rounds up
        (25_000, 1, 3),  # 2.5 rounds up to 3 (banker's rounding would give 2)
        (12_345, 0, 0),
        (0, 250, 0),
        (10_000, 10_000, 10_000),
    ],
)
def test_the_fee_is_basis_points_of_the_amount_rounded_half_up(
    amount: int, fee_bps: int, fee: int
) -> None:
    assert fee_for(amount, fee_bps) == fee


@given(st.integers(0, limits.PAYMENT_AMOUNT_MAX), st.integers(0, 10_000))
def test_the_fee_rounds_half_up_for_every_amount_and_rate(amount: int, fee_bps: int) -> None:
    exact = Decimal(amount) * Decimal(fee_bps) / Decimal(10_000)
    assert fee_for(amount, fee_bps) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# -- refunds ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [OrderKind.PAYOUT, OrderKind.REFUND])
def test_only_a_payin_can_be_refunded(kind: OrderKind) -> None:
    assert code_of(check_refund_request, order(kind), 100) == "not_a_payin"
    assert code_of(check_refund, order(kind), 100) == "not_a_payin"


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.SUCCEEDED])
def test_a_payin_that_was_not_paid_cannot_be_refunded(status: OrderStatus) -> None:
    assert code_of(check_refund_request, order(status=status), 100) == "payin_not_succeeded"
    assert code_of(check_refund, order(status=status), 100) == "payin_not_succeeded"


@pytest.mark.parametrize("amount", [0, -1])
def test_a_refund_of_zero_or_less_is_refused_as_not_positive(amount: int) -> None:
    assert code_of(check_refund_request, order(), amount) == "amount_must_be_positive"
    assert code_of(check_refund, order(), amount) == "amount_must_be_positive"


def test_a_refund_request_is_judged_without_what_was_refunded_so_far() -> None:
    # The reservation (a conditional UPDATE) decides the remainder, not this check.
    check_refund_request(order(amount=10_000, refunded=10_000), 10_000)
    check_refund_request(order(amount=10_000), 1)


@pytest.mark.parametrize(("refunded", "amount"), [(0, 10_000), (0, 1), (9_999, 1), (4_000, 6_000)])
def test_a_refund_up_to_exactly_what_is_left_is_accepted(refunded: int, amount: int) -> None:
    check_refund(order(amount=10_000, refunded=refunded), amount)


@pytest.mark.parametrize(
    ("refunded", "amount"), [(0, 10_001), (10_000, 1), (4_000, 6_001), (9_999, 2)]
)
def test_a_refund_above_what_is_left_is_refused_with_refund_exceeds_refundable(
    refunded: int, amount: int
) -> None:
    refused = refusal(check_refund, order(amount=10_000, refunded=refunded), amount)
    assert refused.code == "refund_exceeds_refundable"
    # The merchant is told how much is still refundable on which pay-in.
    assert str(10_000 - refunded) in refused.detail and "pay_1" in refused.detail


def test_a_refusal_of_a_refund_names_the_order_and_why() -> None:
    payout = refusal(check_refund_request, order(OrderKind.PAYOUT), 100).detail
    assert "pay_1" in payout and "payout" in payout
    unpaid = refusal(check_refund_request, order(status=OrderStatus.PROCESSING), 100).detail
    assert "pay_1" in unpaid and "processing" in unpaid
