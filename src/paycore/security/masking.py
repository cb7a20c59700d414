"""How personal data is shown: masked, everywhere (API, CLI, logs).

| value | shown | example |
|---|---|---|
| bank card (13-19 digits) | first 6 + last 4 (PCI DSS's most) | `622848******1234` |
| phone | first 3 + last 4 | `138****5678` |
| name | first character | `张**` |
| ID number | first 1 + last 1 | `1****************X` |
| account number | last 4 | `************1234` |

Lengths are kept so a support agent can tell a 16- from a 19-digit card. A value too
short to show both ends with enough hidden shows only (part of) its tail; something that
is not a card number at all is masked whole rather than shown.

ID numbers: JR/T 0171-2020 (personal financial information protection) gives masking as
informative examples, not one mandated pattern. We keep only the first and last
character: a Chinese resident ID's first six digits name the place of registration and
the next eight the birth date, both personal data in their own right, so showing them
(as a 6+4 or 3+4 pattern would) reveals more than a support agent needs to tell two
customers apart. Check the version your compliance team follows before changing it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_SEPARATORS = re.compile(r"[\s-]")
_PAN_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
"""13-19 digits, optionally grouped by single spaces or hyphens, not inside a longer run."""


def _mask_middle(value: str, *, head: int, tail: int, hidden_min: int) -> str:
    n = len(value)
    if n - head - tail < hidden_min:
        head = 0
        tail = max(0, min(tail, n - hidden_min))
    return value[:head] + "*" * (n - head - tail) + value[n - tail :]


def mask_card(number: str) -> str:
    """622848******1234. Spaces and hyphens are dropped first."""
    digits = _SEPARATORS.sub("", number)
    if not digits.isascii() or not digits.isdigit():
        return "*" * len(digits)
    if len(digits) < 13:
        return _mask_middle(digits, head=0, tail=4, hidden_min=len(digits) // 2 + 1)
    return _mask_middle(digits, head=6, tail=4, hidden_min=3)


def mask_phone(phone: str) -> str:
    """138****5678; a leading + and country code count as shown characters."""
    compact = _SEPARATORS.sub("", phone)
    return _mask_middle(compact, head=3, tail=4, hidden_min=4)


def mask_name(name: str) -> str:
    """张** / A****: the first character, then one * per remaining character."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


def mask_id_number(id_number: str) -> str:
    """1****************X: the first and the last character."""
    compact = _SEPARATORS.sub("", id_number)
    return _mask_middle(compact, head=1, tail=1, hidden_min=4)


def mask_account_number(account_number: str) -> str:
    """************1234: the last 4."""
    compact = _SEPARATORS.sub("", account_number)
    return _mask_middle(compact, head=0, tail=4, hidden_min=4)


def redact_card_numbers(text: str) -> str:
    """Every run that looks like a card number, masked 6+4 (without the separators).

    No Luhn check: a mistyped card number is still personal data. Other 13-19 digit numbers
    (millisecond timestamps, some order numbers) get masked too; that is the safe error."""
    return _PAN_RUN.sub(lambda m: mask_card(m.group(0)), text)


_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactCardNumbers(logging.Filter):
    """Masks card-number-looking runs in a record's message, its exception text and its
    string `extra` fields, in place. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_card_numbers(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_card_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_card_numbers(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, redact_card_numbers(value))
        return True


LOGGERS_WITH_HANDLERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def install_redaction(logger_names: tuple[str, ...] = LOGGERS_WITH_HANDLERS) -> None:
    """Put RedactCardNumbers on every handler of these loggers, on logging's last-resort
    handler and on the `paycore` logger. Idempotent.

    Handler filters see every record that reaches the handler, whichever logger it came
    from (a logger's own filters do not see its children's records). A handler added
    later (another logging configuration) needs `RedactCardNumbers` in its config."""
    targets: list[Any] = [logging.getLogger("paycore")]
    for name in logger_names:
        targets.extend(logging.getLogger(name).handlers)
    if logging.lastResort is not None:
        targets.append(logging.lastResort)
    for target in targets:
        if not any(isinstance(f, RedactCardNumbers) for f in target.filters):
            target.addFilter(RedactCardNumbers())
