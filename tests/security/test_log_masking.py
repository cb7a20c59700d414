"""Log records never carry a clear card, ID or phone number, and still format."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter

from paycore.security.masking import (
    RedactPersonalData,
    install_redaction,
    redact_personal_numbers,
    redact_record,
)

CARD, ID_NUMBER, PHONE = "6228480402564890018", "11010519491231002X", "13812345678"
CLEAR = (CARD, ID_NUMBER, PHONE)


def _record(msg: object, args: object, name: str = "paycore.payments") -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, None, None)
    record.args = args  # type: ignore[assignment]
    return record


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"card {CARD}", "card 622848*********0018"),
        ("card 6228480012341234.", "card 622848******1234."),
        (f"id={ID_NUMBER}&", "id=1****************X&"),
        ("id 110105194912310028", "id 1****************8"),
        (f"phone {PHONE}", "phone 138****5678"),
        ("tel:+8613812345678", "tel:+86*******5678"),
        ("call 138-1234-5678 or 138 1234 5678", "call 138****5678 or 138****5678"),
        (f"/ids/{ID_NUMBER}abc", "/ids/1****************Xabc"),
        ("order 123456789012 at 1733450000", "order 123456789012 at 1733450000"),
        ("twenty digits 12345678901234567890", "twenty digits 12345678901234567890"),
        ("a 12-digit 138123456789", "a 12-digit 138123456789"),
    ],
)
def test_card_id_and_phone_numbers_in_text_are_masked_and_other_numbers_are_not(
    text: str, masked: str
) -> None:
    assert redact_personal_numbers(text) == masked


def test_an_access_log_line_with_numbers_in_its_path_is_masked_and_still_formats() -> None:
    """uvicorn's access formatter unpacks exactly five args; the record must keep them."""
    path = f"/v1/payins/{CARD}?id={ID_NUMBER}&phone={PHONE}"
    record = _record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", path, "1.1", 404))
    record.name = "uvicorn.access"

    RedactPersonalData().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)

    assert line == (
        '127.0.0.1:5000 - "GET /v1/payins/622848*********0018'
        '?id=1****************X&phone=138****5678 HTTP/1.1" 404 Not Found'
    )


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        ("card %s", (CARD,)),
        ("card %d", (int(CARD),)),
        ("card %s%s", (CARD[:8], CARD[8:])),
        ("payer %(phone)s", {"phone": PHONE}),
        (ValueError(f"bad id {ID_NUMBER}"), ()),
        (f"f-string {PHONE} %s", ("x",)),
    ],
)
def test_every_shape_of_message_and_arguments_is_masked_and_formats(
    msg: object, args: object
) -> None:
    record = redact_record(_record(msg, args))

    text = logging.Formatter().format(record)

    assert not any(value in text for value in CLEAR), text
    assert "*" in text


def test_exception_traces_stack_text_and_extra_fields_are_masked() -> None:
    try:
        raise ValueError(f"bad card {CARD}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.stack_info = f"stack with {PHONE}"
    record.payer = {"phone": PHONE, "ids": [ID_NUMBER]}

    redact_record(record)
    text = logging.Formatter().format(record) + repr(record.__dict__)

    assert not any(value in text for value in CLEAR), text
    assert "ValueError: bad card 622848*********0018" in text


@pytest.fixture
def own_handler() -> Iterator[io.StringIO]:
    """A logger outside paycore with a handler of its own, added after redaction is
    installed (as a library or a later logging config would), not propagating to root."""
    install_redaction()
    stream = io.StringIO()
    logger = logging.getLogger("some.library")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_records_of_any_logger_are_masked_even_on_a_handler_added_later(
    own_handler: io.StringIO,
) -> None:
    logging.getLogger("some.library").warning("calling /cards/%s", CARD)

    assert own_handler.getvalue() == "calling /cards/622848*********0018\n"


def test_installing_twice_adds_one_filter_per_handler_and_one_factory() -> None:
    install_redaction()
    factory = logging.getLogRecordFactory()
    install_redaction()

    assert logging.getLogRecordFactory() is factory
    for handler in [*logging.getLogger().handlers, logging.lastResort]:
        assert handler is not None
        assert sum(isinstance(f, RedactPersonalData) for f in handler.filters) == 1
