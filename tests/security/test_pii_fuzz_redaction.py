"""The redaction every output relies on (logs, problem details, the CLI's stderr) masks any
personal number it is given, however it is written: Luhn-valid cards, resident ID numbers
with their check digit, mainland mobiles; plain, grouped, in full-width digits (what a
Chinese input method types), inside other text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from paycore.security.masking import mask_id_number, redact_personal_numbers
from tests.security.test_pii_fuzz import full_width, personal_texts, redacted, shows


@settings(max_examples=300, derandomize=True, database=None)
@given(sent=personal_texts())
def test_redaction_leaves_no_personal_number_readable_in_any_form(sent: tuple[str, str]) -> None:
    value, text = sent

    readable = shows(value, redact_personal_numbers(text))

    assert not readable, f"{redacted(text)!r} is still readable after redaction"


def test_a_card_number_typed_in_full_width_digits_is_masked() -> None:
    text = "卡号" + full_width("6228480402564890018")

    readable = shows("6228480402564890018", redact_personal_numbers(text))

    assert not readable, "a full-width card number passes redaction in clear"


@pytest.mark.parametrize("separator", [" ", "-"])
def test_a_grouped_resident_id_number_is_masked_like_an_id_number(separator: str) -> None:
    """Its first six digits name the place of registration: a card's 6+4 shows them."""
    grouped = separator.join(["110105", "19491231", "002X"])

    assert redact_personal_numbers(f"ID {grouped}.") == f"ID {mask_id_number(grouped)}."
