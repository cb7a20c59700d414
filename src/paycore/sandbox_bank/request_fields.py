"""The fields of a merchant's request to the bank and their rules.

Each parser returns plain values or raises Rejected("invalid_request", why); the bank then
answers 400 and records nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from paycore import limits
from paycore.clock import date_problem
from paycore.errors import Rejected
from paycore.money import is_known_currency
from paycore.sandbox_bank.model import (
    DESCRIPTION_LENGTH_MAX,
    INVALID_REQUEST,
    NAME_LENGTH_MAX,
    REFERENCE_LENGTH_MAX,
    URL_LENGTH_MAX,
)

_REFERENCE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
_DIGITS = re.compile(r"^[0-9]+$")


def _text(data: Mapping[str, Any], name: str, *, max_length: int, required: bool = True) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise Rejected(INVALID_REQUEST, f"{name} must be a string")
    if required and not value:
        raise Rejected(INVALID_REQUEST, f"{name} is required")
    if len(value) > max_length:
        raise Rejected(INVALID_REQUEST, f"{name} is longer than {max_length} characters")
    return value


def reference_of(data: Mapping[str, Any], name: str = "reference") -> str:
    value = _text(data, name, max_length=REFERENCE_LENGTH_MAX)
    if not _REFERENCE.fullmatch(value):
        raise Rejected(INVALID_REQUEST, f"{name} has characters other than A-Z a-z 0-9 _ . : -")
    return value


def money_of(data: Mapping[str, Any]) -> tuple[int, str]:
    amount = data.get("amount_minor")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise Rejected(INVALID_REQUEST, "amount_minor must be an integer of minor units")
    if not 0 < amount <= limits.AMOUNT_MAX:
        raise Rejected(INVALID_REQUEST, "amount_minor must be positive and fit 64 bits")
    currency = data.get("currency")
    if not isinstance(currency, str) or not is_known_currency(currency):
        raise Rejected(INVALID_REQUEST, "currency must be an ISO 4217 code")
    return amount, currency


def notify_url_of(data: Mapping[str, Any]) -> str:
    url = _text(data, "notify_url", max_length=URL_LENGTH_MAX)
    if not url.startswith(("http://", "https://")):
        raise Rejected(INVALID_REQUEST, "notify_url must be an http(s) URL")
    return url


def instant_of(data: Mapping[str, Any], name: str) -> datetime:
    text = _text(data, name, max_length=40)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Rejected(INVALID_REQUEST, f"{name} must be an ISO 8601 instant") from exc
    if value.tzinfo is None:
        raise Rejected(INVALID_REQUEST, f"{name} must carry a UTC offset")
    if (problem := date_problem(value)) is not None:  # year 1 or 9999 overflows in UTC
        raise Rejected(INVALID_REQUEST, f"{name}: {problem}")
    return value.astimezone(UTC)


def object_of(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, Mapping):
        raise Rejected(INVALID_REQUEST, f"{name} must be an object")
    return value


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_of(data: Mapping[str, Any]) -> tuple[str, bool]:
    """(masked card 6+4, whether the number passes the Luhn check)."""
    card = object_of(data, "card")
    number = _text(card, "number", max_length=19)
    if not _DIGITS.fullmatch(number) or len(number) < 12:
        raise Rejected(INVALID_REQUEST, "card.number must be 12 to 19 digits")
    _text(card, "name", max_length=NAME_LENGTH_MAX, required=False)
    return f"{number[:6]}******{number[-4:]}", luhn_valid(number)


def account_of(data: Mapping[str, Any]) -> str:
    """The beneficiary's account, masked to its last four digits."""
    account = object_of(data, "beneficiary")
    number = _text(account, "account_number", max_length=34)
    if not _DIGITS.fullmatch(number) or len(number) < 6:
        raise Rejected(INVALID_REQUEST, "beneficiary.account_number must be 6 to 34 digits")
    _text(account, "name", max_length=NAME_LENGTH_MAX)
    _text(account, "bank_code", max_length=32, required=False)
    return f"****{number[-4:]}"


def description_of(data: Mapping[str, Any]) -> str:
    return _text(data, "description", max_length=DESCRIPTION_LENGTH_MAX, required=False)
