"""Statement amounts in every form a real file writes them, and each refusal by its words.

Every refusal is `malformed_statement`; what tells them apart for the person fixing the
file is the detail, so the detail is asserted whole. Expected minor units are worked out
by hand or with Decimal, never through parse_amount itself.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.limits import AMOUNT_MAX
from paycore.recon.model import MalformedStatement, parse_amount, shown

EXPONENTS = {"CNY": 2, "JPY": 0, "KWD": 3}


def refusal(text: str, currency: str = "CNY") -> str:
    """The detail of the refusal, which must be `malformed_statement`."""
    with pytest.raises(MalformedStatement) as refused:
        parse_amount(text, currency)
    assert refused.value.code == "malformed_statement"
    return refused.value.detail


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("0", "CNY", 0),
        ("0.00", "CNY", 0),
        ("-0.00", "CNY", 0),
        ("12", "CNY", 1_200),
        ("12.3", "CNY", 1_230),  # fewer decimals than the currency has: the rest are zeros
        ("12.34", "CNY", 1_234),
        ("12.340", "CNY", 1_234),  # a trailing zero beyond the currency's decimals changes nothing
        ("12.340000", "CNY", 1_234),
        ("+12.34", "CNY", 1_234),
        ("-12.34", "CNY", -1_234),
        ("\t 12.34 \r\n", "CNY", 1_234),
        ("007.50", "CNY", 750),
        ("1,234", "CNY", 123_400),
        ("1,234.56", "CNY", 123_456),
        ("-1,234.56", "CNY", -123_456),
        ("+12,345,678.90", "CNY", 1_234_567_890),
        ("999,999.99", "CNY", 99_999_999),
        ("12,34,567.00", "INR", 123_456_700),  # lakh and crore grouping, as Indian banks print
        ("1,00,00,000", "INR", 1_000_000_000),
        ("-1,23,456.50", "INR", -12_345_650),
        ("1234567.89", "CNY", 123_456_789),  # thousands separators are optional
        ("1500", "JPY", 1_500),
        ("1,500", "JPY", 1_500),
        ("-1,500", "JPY", -1_500),
        ("1500.0", "JPY", 1_500),
        ("1.5", "KWD", 1_500),
        ("1.005", "KWD", 1_005),
        ("-0.001", "KWD", -1),
    ],
)
def test_amounts_in_the_forms_files_write_them_read_as_exact_minor_units(
    text: str, currency: str, minor: int
) -> None:
    assert parse_amount(text, currency) == minor


@given(
    minor=st.integers(-AMOUNT_MAX, AMOUNT_MAX),
    currency=st.sampled_from(sorted(EXPONENTS)),
    spec=st.sampled_from(["f", ",f", "+f", "+,f"]),
)
def test_any_amount_with_or_without_separators_and_sign_reads_back_exactly(
    minor: int, currency: str, spec: str
) -> None:
    text = format(Decimal(minor).scaleb(-EXPONENTS[currency]), spec)

    assert parse_amount(text, currency) == minor


@given(
    whole=st.integers(0, 10**9),
    kept=st.integers(0, 99),
    extra=st.integers(1, 10**6),
)
def test_a_digit_beyond_the_currencys_decimals_is_refused_never_rounded(
    whole: int, kept: int, extra: int
) -> None:
    text = f"{whole}.{kept:02d}{extra}"

    assert refusal(text) == f"{text!r} has more decimals than CNY allows"


@pytest.mark.parametrize(
    ("text", "currency"),
    [("1.001", "CNY"), ("1.5", "JPY"), ("1,500.1", "JPY"), ("0.0001", "KWD"), ("1.2341", "KWD")],
)
def test_more_decimals_than_the_currency_has_is_refused(text: str, currency: str) -> None:
    assert refusal(text, currency) == f"{text!r} has more decimals than {currency} allows"


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "+", "-", ".", "1.", ".5", "-.5", "1.2.3", "abc", "1e3", "NaN", "inf",
        "--1", "+-1", "-+1", "- 1", "1-", "1.00-", "(1.00)", "¥1.00", "1.00 CNY", "1 234.50",
        "1_000", "0x10", "\uff11\uff12", "\u00b2", "\u0661",
    ],
)  # fmt: skip
def test_text_that_is_not_decimal_digits_is_refused_as_not_an_amount(text: str) -> None:
    assert refusal(text) == f"{text!r} is not an amount"


@pytest.mark.parametrize(
    "text",
    [
        "1,23",  # a decimal comma: 1.23, not 123.00
        "1,5",
        "1.000,00",  # a European 1000.00, not 1.00
        "1,234,5",
        "1234,567",
        ",1",
        "1,",
        "1,,234",
        "-,123",
        "1.234,56",
        "1,23,45",  # lakh groups end with three digits
        "123,45,678",  # and start with at most two
        "12,345,67,890",  # one grouping per amount
    ],
)
def test_a_comma_that_does_not_separate_thousands_is_refused_not_dropped(text: str) -> None:
    assert refusal(text) == f"{text!r} is not an amount"


def test_the_largest_amount_the_database_keeps_is_read_and_one_more_is_refused() -> None:
    largest = f"{AMOUNT_MAX:,}"
    one_more = str(AMOUNT_MAX + 1)

    assert parse_amount(largest, "JPY") == AMOUNT_MAX
    assert parse_amount("-" + largest, "JPY") == -AMOUNT_MAX
    assert parse_amount("92233720368547758.07", "CNY") == AMOUNT_MAX
    assert refusal(one_more, "JPY") == f"{one_more!r} is too large"
    assert refusal("92233720368547758.08", "CNY") == "'92233720368547758.08' is too large"


def test_a_whole_part_with_more_digits_than_the_largest_amount_is_too_large() -> None:
    digits = len(str(AMOUNT_MAX))
    text = "1" + "0" * digits  # one digit more than the largest amount has

    assert refusal(text, "JPY") == f"{text!r} is too large"
    assert refusal("9" * 5_000, "JPY") == f"{shown('9' * 5_000)} is too large"


def test_leading_zeros_do_not_count_towards_the_size_of_an_amount() -> None:
    assert parse_amount("0" * 40 + "1.00", "CNY") == 100
    assert parse_amount("0" * 40 + str(AMOUNT_MAX), "JPY") == AMOUNT_MAX


@pytest.mark.parametrize("code", ["XXQ", "XTS", "XAU", "cny", "CN", "CNYY", ""])
def test_an_amount_in_a_code_that_is_not_money_is_refused_naming_the_code(code: str) -> None:
    assert refusal("1.00", code) == f"unknown currency {code!r}"


def test_a_refusal_names_the_line_and_the_field_before_the_reason() -> None:
    with pytest.raises(MalformedStatement) as refused:
        parse_amount("1.001", "CNY", line=12, field="Amount")

    assert (
        refused.value.detail == "line 12, field Amount: '1.001' has more decimals than CNY allows"
    )
    assert (refused.value.line, refused.value.field) == (12, "Amount")


@pytest.mark.parametrize(
    ("text", "currency", "reason"),
    [
        ("1.00", "XXQ", "unknown currency 'XXQ'"),
        ("1,23", "CNY", "'1,23' is not an amount"),
        ("1.001", "CNY", "'1.001' has more decimals than CNY allows"),
        ("1" * 25, "JPY", f"{'1' * 25!r} is too large"),
        ("92233720368547758.08", "CNY", "'92233720368547758.08' is too large"),
    ],
)
def test_every_refusal_names_the_line_and_the_field_it_was_given(
    text: str, currency: str, reason: str
) -> None:
    with pytest.raises(MalformedStatement) as refused:
        parse_amount(text, currency, line=7, field="Amt")

    assert refused.value.code == "malformed_statement"
    assert refused.value.detail == f"line 7, field Amt: {reason}"
    assert (refused.value.line, refused.value.field) == (7, "Amt")


def test_a_value_quoted_in_an_error_is_cut_after_forty_characters() -> None:
    forty, forty_one = "7" * 40, "7" * 41

    assert shown(forty) == repr(forty)
    assert shown(forty_one) == repr(forty) + "... (41 characters)"
    assert shown("") == "''"
