"""Personal data is shown masked: cards 6+4, phones 3+4, names, ID and account numbers."""

from __future__ import annotations

import logging
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.security.masking import (
    RedactPersonalData,
    install_redaction,
    mask_account_number,
    mask_card,
    mask_id_number,
    mask_name,
    mask_phone,
    redact_personal_numbers,
)

PANS = st.text(alphabet="0123456789", min_size=13, max_size=19)


@given(PANS)
def test_a_masked_card_keeps_the_first_6_and_last_4_digits_and_its_length(pan: str) -> None:
    masked = mask_card(pan)

    assert len(masked) == len(pan)
    assert masked[:6] == pan[:6] and masked[-4:] == pan[-4:]
    assert set(masked[6:-4]) == {"*"}


@given(PANS, st.data())
def test_a_masked_card_never_contains_a_middle_digit(pan: str, data: st.DataObject) -> None:
    """Whatever the middle digits are, the masked form is the same: it reveals none of them."""
    middle = data.draw(
        st.text(alphabet="0123456789", min_size=len(pan) - 10, max_size=len(pan) - 10)
    )
    other = pan[:6] + middle + pan[-4:]

    assert mask_card(pan) == mask_card(other)


@given(st.text(alphabet="0123456789", min_size=1, max_size=12))
def test_a_short_number_shows_less_than_half_of_itself(number: str) -> None:
    masked = mask_card(number)

    assert len(masked) == len(number)
    assert sum(c != "*" for c in masked) < len(number) / 2 or (len(number) == 1 and masked == "*")


@pytest.mark.parametrize(
    ("shown", "masked"),
    [
        ("6228480012341234", "622848******1234"),
        ("6228 4800 1234 1234", "622848******1234"),
        ("6228-4800-1234-1234", "622848******1234"),
        ("4111111111111", "411111***1111"),
        ("not a card", "********"),
        ("", ""),
    ],
)
def test_card_numbers_are_masked_six_and_four(shown: str, masked: str) -> None:
    assert mask_card(shown) == masked


@pytest.mark.parametrize(
    ("function", "value", "masked"),
    [
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, "138 1234 5678", "138****5678"),
        (mask_phone, "+8613812345678", "+86*******5678"),
        (mask_phone, "12345", "****5"),
        (mask_name, "张三", "张*"),
        (mask_name, "欧阳娜娜", "欧***"),
        (mask_name, "Alice", "A****"),
        (mask_name, "李", "*"),
        (mask_name, "", ""),
        (mask_id_number, "11010519491231002X", "1****************X"),
        (mask_id_number, "110105194912310021", "1****************1"),
        (mask_id_number, "123", "***"),
        (mask_account_number, "6222020200112233445", "***************3445"),
        (mask_account_number, "12345678", "****5678"),
        (mask_account_number, "1234", "****"),
    ],
)
def test_personal_data_is_masked_by_its_kind(function: object, value: str, masked: str) -> None:
    assert function(value) == masked  # type: ignore[operator]


@given(st.text(alphabet="0123456789X", min_size=15, max_size=18))
def test_a_masked_id_number_shows_only_its_first_and_last_character(number: str) -> None:
    masked = mask_id_number(number)

    assert masked == number[0] + "*" * (len(number) - 2) + number[-1]


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("card 6228480012341234 declined", "card 622848******1234 declined"),
        ("card 6228 4800 1234 1234.", "card 622848******1234."),
        ("two: 4111111111111111,5500000000000004", "two: 411111******1111,550000******0004"),
        ("order 123456789012 and amount 100", "order 123456789012 and amount 100"),
        ("twenty digits 12345678901234567890", "twenty digits 12345678901234567890"),
    ],
)
def test_card_number_runs_in_text_are_masked_and_other_numbers_are_not(
    text: str, redacted: str
) -> None:
    assert redact_personal_numbers(text) == redacted


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("paycore.payments", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_the_log_filter_masks_card_numbers_in_messages_arguments_and_extras() -> None:
    record = _record("payer %s paid with %s", "p1", "6228480012341234", card="6228480012341234")

    assert RedactPersonalData().filter(record) is True

    assert record.getMessage() == "payer p1 paid with 622848******1234"
    assert record.card == "622848******1234"  # type: ignore[attr-defined]


def test_the_log_filter_masks_card_numbers_in_exception_traces() -> None:
    try:
        raise ValueError("bad card 6228480012341234")
    except ValueError:
        record = logging.LogRecord(
            "paycore", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )

    RedactPersonalData().filter(record)
    formatted = logging.Formatter().format(record)

    assert "6228480012341234" not in formatted and "622848******1234" in formatted


def test_installed_redaction_masks_records_of_any_paycore_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_redaction()
    install_redaction()  # idempotent

    with caplog.at_level(logging.INFO):
        logging.getLogger("paycore.payments.service").info("card %s", "6228480012341234")

    assert "6228480012341234" not in caplog.text
    assert "622848******1234" in caplog.text
    assert sum(isinstance(f, RedactPersonalData) for f in caplog.handler.filters) == 1
