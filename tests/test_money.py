"""Currency codes and minor units: known answers for every rule in paycore.money."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.money import currency, decimal_text, format_minor, is_known_currency, to_major


def test_yen_has_no_minor_unit_and_dinar_has_three() -> None:
    assert currency("JPY").exponent == 0
    assert currency("KWD").exponent == 3
    assert decimal_text(5, "KWD") == "0.005"
    assert format_minor(100, "CNY") == "1.00 CNY"


def test_a_code_that_is_iso_but_not_money_is_refused_with_unknown_currency() -> None:
    with pytest.raises(Rejected) as refused:
        currency("XTS")
    assert refused.value.code == "unknown_currency"


@pytest.mark.parametrize(
    ("code", "detail"),
    [
        ("XTS", "'XTS' is an ISO 4217 code but not money"),
        ("CHE", "'CHE' is an ISO 4217 code but not money"),  # a fund code, not the franc
        ("XQQ", "'XQQ' is not an ISO 4217 currency code"),
        ("cny", "'cny' is not an ISO 4217 currency code"),
    ],
)
def test_the_refusal_says_whether_the_code_is_iso_at_all(code: str, detail: str) -> None:
    with pytest.raises(Rejected) as refused:
        currency(code)
    assert (refused.value.code, refused.value.detail) == ("unknown_currency", detail)


@pytest.mark.parametrize("code", ["CN", "CNYY", "", " CNY", "CNY "])
def test_only_a_three_letter_code_can_be_a_currency(code: str) -> None:
    assert not is_known_currency(code)


@pytest.mark.parametrize(
    ("minor", "code", "text"),
    [(0, "CNY", "0.00"), (-5, "CNY", "-0.05"), (123_456, "CNY", "1234.56"),
     (100, "JPY", "100"), (-1, "KWD", "-0.001"), (1_000, "KWD", "1.000")],
)  # fmt: skip
def test_decimal_text_always_carries_exactly_the_currencys_decimals(
    minor: int, code: str, text: str
) -> None:
    assert decimal_text(minor, code) == text
    assert format_minor(minor, code) == f"{text} {code}"


@given(minor=st.integers(-(2**63), 2**63), code=st.sampled_from(["CNY", "JPY", "KWD", "USD"]))
def test_major_units_are_exact_for_any_amount(minor: int, code: str) -> None:
    exponent = currency(code).exponent

    assert to_major(minor, code) * 10**exponent == Decimal(minor)
    assert Decimal(decimal_text(minor, code)).scaleb(exponent) == minor
