"""The sandbox bank reads a request's identifiers whole: a trailing line feed is not part
of a reference, a card number or an account number (a `$` in a pattern would let it by)."""

from __future__ import annotations

import pytest

from paycore.errors import Rejected
from paycore.sandbox_bank.request_fields import account_of, card_of, reference_of


@pytest.mark.parametrize("reference", ["ord-1\n", "ord-1\r\n", "ord 1", "ord-\u0661"])
def test_a_reference_with_a_line_feed_or_another_character_is_refused(reference: str) -> None:
    with pytest.raises(Rejected) as refused:
        reference_of({"reference": reference})
    assert refused.value.code == "invalid_request"


def test_a_reference_of_the_allowed_characters_is_read_as_given() -> None:
    assert reference_of({"reference": "Ord_1.a:b-2"}) == "Ord_1.a:b-2"


@pytest.mark.parametrize(
    "number", ["6228480402564890018\n", "62284804025648900\u0661\u0668", "²228480402564890018"]
)
def test_a_card_number_with_a_line_feed_or_other_digits_is_refused(number: str) -> None:
    with pytest.raises(Rejected) as refused:
        card_of({"card": {"number": number}})
    assert refused.value.code == "invalid_request"


@pytest.mark.parametrize("number", ["6222021234\n", "62220212\u06634"])
def test_an_account_number_with_a_line_feed_or_other_digits_is_refused(number: str) -> None:
    with pytest.raises(Rejected) as refused:
        account_of({"beneficiary": {"account_number": number, "name": "Li"}})
    assert refused.value.code == "invalid_request"


def test_a_card_and_an_account_of_ascii_digits_are_masked() -> None:
    assert card_of({"card": {"number": "6228480402564890018"}})[0] == "622848******0018"
    assert account_of({"beneficiary": {"account_number": "6222021234", "name": "Li"}}) == "****1234"
