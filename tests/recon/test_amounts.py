"""Statement amounts: decimal text to minor units, exactly, never through a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.recon.model import MalformedStatement, parse_amount


@given(minor=st.integers(-(10**15), 10**15), currency=st.sampled_from(["CNY", "JPY", "KWD"]))
def test_any_amount_written_as_decimal_text_reads_back_as_the_same_minor_units(
    minor: int, currency: str
) -> None:
    exponent = {"CNY": 2, "JPY": 0, "KWD": 3}[currency]
    text = str(Decimal(minor).scaleb(-exponent)) if exponent else str(minor)
    assert "E" not in text

    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("1,234.50", "CNY", 123_450), ("+5", "CNY", 500), ("1.230", "CNY", 123),
     (" 0.01 ", "CNY", 1), ("-7", "JPY", -7)],
)  # fmt: skip
def test_amounts_as_statements_write_them(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    "text", ["", "abc", "1.", ".5", "1e3", "--1", "+-1", "\uff11\uff12", "1.234", "NaN", "inf"]
)
def test_text_that_is_not_an_amount_of_the_currency_names_its_line_and_field(text: str) -> None:
    with pytest.raises(MalformedStatement) as refused:
        parse_amount(text, "CNY", line=7, field="amount")

    assert refused.value.code == "malformed_statement"
    assert (refused.value.line, refused.value.field) == (7, "amount")
    assert "line 7, field amount" in refused.value.detail


def test_an_unknown_currency_is_refused() -> None:
    with pytest.raises(MalformedStatement):
        parse_amount("1.00", "XXQ")
