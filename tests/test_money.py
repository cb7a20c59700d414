"""Currency codes and minor units: known answers for every rule in paycore.money."""

from __future__ import annotations

import pytest

from paycore.errors import Rejected
from paycore.money import currency, decimal_text, format_minor


def test_yen_has_no_minor_unit_and_dinar_has_three() -> None:
    assert currency("JPY").exponent == 0
    assert currency("KWD").exponent == 3
    assert decimal_text(5, "KWD") == "0.005"
    assert format_minor(100, "CNY") == "1.00 CNY"


def test_a_code_that_is_iso_but_not_money_is_refused_with_unknown_currency() -> None:
    with pytest.raises(Rejected) as refused:
        currency("XTS")
    assert refused.value.code == "unknown_currency"
