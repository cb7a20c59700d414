"""Redaction reads full-width digits and grouped ID numbers; `holds_personal_number` tells
a key that must be refused (a reference, an owner) by the check digits of what it holds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from paycore.security.masking import (
    holds_personal_number,
    mask_card,
    mask_id_number,
    redact_personal_numbers,
    redact_value,
)
from tests.security.test_pii_fuzz import (
    cards,
    full_width,
    grouped,
    id_numbers,
    luhn_completed,
    mobiles,
)

CARD = luhn_completed("622848040256489001")
ID_NUMBER = "11010519491231002X"


def _broken_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def test_text_around_a_full_width_number_keeps_its_full_width_characters() -> None:
    text = f"三号楼{full_width('12')}室 卡号{full_width(CARD)}"

    redacted = redact_personal_numbers(text)

    assert redacted == f"三号楼{full_width('12')}室 卡号{mask_card(CARD)}"


def test_a_number_grouped_by_ideographic_spaces_and_full_width_hyphens_is_masked() -> None:
    text = full_width(grouped(CARD, "\u3000")) + " / " + full_width(grouped(CARD, "\uff0d"))

    redacted = redact_personal_numbers(text)

    assert redacted == f"{mask_card(CARD)} / {mask_card(CARD)}"


def test_an_id_number_followed_by_another_number_is_still_masked_as_an_id_number() -> None:
    redacted = redact_personal_numbers(f"ID {ID_NUMBER} 2 copies")

    assert redacted == f"ID {mask_id_number(ID_NUMBER)} 2 copies"


def test_a_grouped_19_digit_card_is_masked_as_a_card_not_as_an_id_and_a_digit() -> None:
    redacted = redact_personal_numbers(grouped(CARD, " "))

    assert redacted == mask_card(CARD)


def test_redacting_masked_text_again_changes_nothing() -> None:
    once = redact_personal_numbers(f"{full_width(CARD)} {grouped(ID_NUMBER, '-')} 13812345678")

    assert redact_personal_numbers(once) == once


def test_metadata_keys_holding_a_number_are_masked_as_well_as_values() -> None:
    redacted = redact_value({CARD: {"phone": 13812345678}, "n": [ID_NUMBER]})

    assert redacted == {mask_card(CARD): {"phone": "138****5678"}, "n": [mask_id_number(ID_NUMBER)]}


@settings(max_examples=200, derandomize=True, database=None)
@given(number=st.one_of(cards, id_numbers, mobiles), form=st.sampled_from(["plain", "-", "wide"]))
def test_a_valid_card_id_or_mobile_number_in_a_key_is_found_however_written(
    number: str, form: str
) -> None:
    shown = {"plain": number, "-": grouped(number, "-"), "wide": full_width(number)}[form]

    assert holds_personal_number(f"ref-{shown}.x")


@settings(max_examples=200, derandomize=True, database=None)
@given(number=cards)
def test_a_card_shaped_number_failing_luhn_is_not_taken_for_a_personal_number(number: str) -> None:
    assert not holds_personal_number(f"ORD-{_broken_check_digit(number)}")


def test_an_id_number_is_told_by_its_check_character_x_in_either_case() -> None:
    wrong = ID_NUMBER[:-1] + "0"

    assert holds_personal_number(ID_NUMBER) and holds_personal_number(ID_NUMBER.lower())
    assert not holds_personal_number(wrong)


def test_a_number_of_other_lengths_or_a_landline_is_not_a_personal_number() -> None:
    for text in ("20261206", "0755-88881234", "x" * 40, "", "ref-2026-12-06-0001"):
        assert not holds_personal_number(text), text


def test_a_millisecond_timestamp_used_as_a_reference_is_not_taken_for_a_card() -> None:
    # Luhn-valid by chance, as one in ten is; no card network issues numbers starting with 1.
    assert not holds_personal_number("1733500000000")
    assert holds_personal_number("6222020000000000000")
