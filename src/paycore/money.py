"""Money is an integer of minor units with an ISO 4217 currency.

Currency codes and exponents come from the CLDR data shipped with Babel, so
paycore does not maintain its own copy of ISO 4217.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import get_currency_precision, list_currencies

from paycore.errors import Rejected


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int


MONEY_X_CODES = frozenset({"XAF", "XCD", "XCG", "XOF", "XPF"})
"""The X-codes that are a country's money: the CFA francs, the East Caribbean dollar, the
Caribbean guilder and the CFP franc. Every other X-code is not money paycore can move:
XXX means "no currency", XTS is for testing, XAU/XAG/XPT/XPD are metals by the troy
ounce, XBA-XBD bond-market units, XDR/XSU/XUA/XAD units of account of institutions, and
XEU/XFO/XFU/XRE withdrawn units (ISO gives most of them no minor unit at all; CLDR's 2 is
a placeholder)."""

FUND_CODES = frozenset({"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"})
"""ISO 4217's fund codes: indexed units of account and next-day dollars, booked beside a
currency but never paid with; a payment in them is a mistake for the currency itself."""


@functools.cache
def _known_codes() -> frozenset[str]:
    return frozenset(
        code
        for code in list_currencies()
        if (not code.startswith("X") or code in MONEY_X_CODES) and code not in FUND_CODES
    )


def is_known_currency(code: str) -> bool:
    """Whether `code` is ISO 4217 money paycore moves (not XXX, XTS, metals, funds)."""
    return len(code) == 3 and code in _known_codes()


@functools.cache
def currency(code: str) -> Currency:
    """The currency for an ISO 4217 alphabetic code, or Rejected('unknown_currency')."""
    if not is_known_currency(code):
        if code in list_currencies():
            raise Rejected("unknown_currency", f"{code!r} is an ISO 4217 code but not money")
        raise Rejected("unknown_currency", f"{code!r} is not an ISO 4217 currency code")
    return Currency(code=code, exponent=get_currency_precision(code))


def to_major(amount_minor: int, code: str) -> Decimal:
    """`12345, 'CNY'` -> `Decimal('123.45')`: exact, for files that carry major units."""
    return Decimal(amount_minor).scaleb(-currency(code).exponent)


def decimal_text(amount_minor: int, code: str) -> str:
    """`12345, 'CNY'` -> `'123.45'`, always with the currency's decimals (`'1.00'`)."""
    exponent = currency(code).exponent
    return f"{to_major(amount_minor, code):.{exponent}f}"


def format_minor(amount_minor: int, code: str) -> str:
    """`12345, 'CNY'` -> `'123.45 CNY'`: for people, never for arithmetic."""
    return f"{decimal_text(amount_minor, code)} {code}"
