"""What every statement parser produces and the matcher consumes. Pure.

A statement, whatever its format (the sandbox bank's CSV, ISO 20022 camt.053/054, an
Alipay or WeChat Pay bill), becomes a `StatementInfo` and a stream of `StatementLine`s,
so the matcher never knows where a line came from. Amounts are minor units, parsed from
decimal text without floats.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from paycore.errors import Rejected
from paycore.limits import AMOUNT_MAX
from paycore.money import currency as currency_of
from paycore.money import is_known_currency

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
"""Statements and runs are by business day in the platform's timezone."""


def day_start(day: date) -> datetime:
    """00:00 of a business day in Asia/Shanghai, as a UTC instant."""
    return datetime.combine(day, time(0), BUSINESS_TZ).astimezone(UTC)


def business_date_of(instant: datetime) -> date:
    return instant.astimezone(BUSINESS_TZ).date()


class LineKind(enum.StrEnum):
    PAYIN = "payin"  # money in for an order (a sale, a deposit)
    REFUND = "refund"  # money back to a payer
    PAYOUT = "payout"  # money out to a beneficiary
    FEE = "fee"  # a charge of the channel or bank on its own line
    OTHER = "other"  # interest, corrections, anything not tied to an order


class Direction(enum.StrEnum):
    CREDIT = "credit"  # into our account at the channel or bank
    DEBIT = "debit"


class LineStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"  # camt.054 / intraday: booked later, if at all


@dataclass(frozen=True, slots=True)
class Counterparty:
    """Who paid us (on a credit) or whom we paid (on a debit): personal data, stored
    sealed and shown masked."""

    account_number: str
    name: str


@dataclass(frozen=True, slots=True)
class StatementLine:
    line_no: int
    """Where the line is in its file: the CSV line number, or the n-th entry of an XML
    statement (1-based), so an error or a break points at it."""
    source_ref: str
    """The line's own id at its source (bank reference, Alipay trade no); unique in a file."""
    kind: LineKind
    direction: Direction
    amount: int  # minor units, > 0
    currency: str
    booked_at: datetime  # UTC
    status: LineStatus = LineStatus.SUCCEEDED
    channel_txn_id: str | None = None  # matches payment_orders.channel_txn_id
    reference: str | None = None  # our reference echoed back (order id, EndToEndId)
    fee: int = 0  # the channel's fee on this line, minor units, >= 0
    value_date: date | None = None
    raw: Mapping[str, str] = field(default_factory=dict)  # a few source fields, for audit
    account: str | None = None
    """Our account the line is about, when the file names one per line (the virtual
    account a custody payer transferred to)."""
    counterparty: Counterparty | None = None
    business_date: date | None = None
    """The line's business day as the bank states it (camt's booking date); None: the
    day of `booked_at` in the business timezone."""
    bank_kind: str | None = None
    """What the bank calls the movement (camt's bank transaction code), kept as written."""
    counter_amount: int | None = None
    """The movement in another currency (camt's instructed amount), minor units."""
    counter_currency: str | None = None


@dataclass(frozen=True, slots=True)
class StatementBalance:
    """One statement of a file, as the bank closes it: what its balances say, and what
    its booked entries make. `closing` is None when the file states no balances."""

    statement_id: str
    account: str
    currency: str
    line: int  # where the statement starts in the file
    business_date: date | None  # the day it closes (the closing balance's date)
    opening: int | None
    closing: int | None
    credits: int  # booked entries only, minor units
    debits: int

    @property
    def difference(self) -> int | None:
        """What the closing balance states beyond what the entries make; None when the
        statement has no balances to check."""
        if self.opening is None or self.closing is None:
            return None
        return self.closing - (self.opening + self.credits - self.debits)


@dataclass(frozen=True, slots=True)
class StatementInfo:
    format: str  # sandbox_csv | camt052 | camt053 | camt054 | alipay | wechat
    source: str  # the channel or bank account the statement is about
    statement_id: str  # the source's id of the statement (or the file name)
    period_start: date | None = None
    period_end: date | None = None
    currency: str | None = None
    opening_balance: int | None = None  # minor units, signed
    closing_balance: int | None = None


@dataclass(frozen=True, slots=True)
class ControlTotals:
    """What a file says about itself (a summary line, camt's TxsSummry): checked against
    the lines read, so a truncated or edited file is refused."""

    count: int | None = None
    credits: int | None = None
    debits: int | None = None


WARNINGS_KEPT_MAX = 100
"""Warnings kept on an import (all are counted): a bank that bends the format does so on
every entry, and the first hundred say how."""


@dataclass(slots=True)
class Warnings:
    """Deviations from the format that change no amount, currency, sign, date or
    reference: the file imports, and they are kept on the import."""

    kept: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.kept) < WARNINGS_KEPT_MAX:
            self.kept.append(text)


class Statement:
    """A parsed statement: `info` at once, `lines` streamed (bounded memory), and the
    control totals once the lines are exhausted."""

    def __init__(self, info: StatementInfo, lines: Iterator[StatementLine]) -> None:
        self.info = info
        self.lines = lines
        self.totals = ControlTotals()
        self.warnings = Warnings()
        self.balances: list[StatementBalance] = []
        """Each statement of the file with balances to check, once the lines are read."""


class MalformedStatement(Rejected):
    """A file that cannot be read as its format: names the line and field."""

    def __init__(self, detail: str, *, line: int | None = None, field: str | None = None) -> None:
        where = ", ".join(
            part
            for part in (f"line {line}" if line else "", f"field {field}" if field else "")
            if part
        )
        super().__init__("malformed_statement", f"{where}: {detail}" if where else detail)
        self.line = line
        self.field = field


def parse_amount(
    text: str, currency: str, *, line: int | None = None, field: str | None = None
) -> int:
    """'1,234.50' CNY -> 123450. Decimal text only (no floats), commas only as thousands
    separators; more decimals than the currency has is an error, not a rounding. Integer
    arithmetic on the digits: this runs once per statement line, millions of times a day."""
    if not is_known_currency(currency):
        raise MalformedStatement(f"unknown currency {currency!r}", line=line, field=field)
    cleaned = text.strip()
    signed = cleaned[:1] in ("+", "-")
    sign = -1 if cleaned.startswith("-") else 1
    whole, dot, fraction = cleaned[1 if signed else 0 :].partition(".")
    if "," in whole and _thousands_grouped(whole):
        whole = whole.replace(",", "")  # any other comma stays, and is not a digit
    if not (_digits(whole) and (not dot or _digits(fraction))):
        raise MalformedStatement(f"{shown(text)} is not an amount", line=line, field=field)
    exponent = currency_of(currency).exponent
    kept, dropped = fraction[:exponent], fraction[exponent:]
    if dropped.strip("0"):  # pragma: no mutate: equivalent, on digits "XX0XX" strips as "0"
        raise MalformedStatement(
            f"{shown(text)} has more decimals than {currency} allows", line=line, field=field
        )
    whole = whole.lstrip("0")  # pragma: no mutate: equivalent, on digits "XX0XX" strips as "0"
    if len(whole) > _WHOLE_DIGITS_MAX:  # before int(): it refuses 4,300 digits, slowly
        raise MalformedStatement(f"{shown(text)} is too large", line=line, field=field)
    scale = int(10**exponent)
    value = int(whole or "0") * scale + int(kept.ljust(exponent, "0") or "0")
    if value > AMOUNT_MAX:  # the database keeps signed 64-bit amounts
        raise MalformedStatement(f"{shown(text)} is too large", line=line, field=field)
    return sign * value


_WHOLE_DIGITS_MAX = len(str(AMOUNT_MAX))
_SHOWN_CHARS_MAX = 40


def shown(text: str) -> str:
    """A value quoted in an error, cut short: a file's cell can be thousands of bytes."""
    if len(text) <= _SHOWN_CHARS_MAX:
        return repr(text)
    return repr(text[:_SHOWN_CHARS_MAX]) + f"... ({len(text)} characters)"


def _thousands_grouped(whole: str) -> bool:
    """'1,234,567', or '12,34,567' as Indian banks group (lakh, crore): commas only between
    digit groups that end with three. Any other comma is refused, not dropped: '1,23' (a
    decimal comma) would read as 123.00, '1.000,00' as 1.00."""
    first, *middle, last = whole.split(",")
    if len(last) != 3:
        return False
    western = 1 <= len(first) <= 3 and all(len(group) == 3 for group in middle)
    indian = 1 <= len(first) <= 2 and all(len(group) == 2 for group in middle)
    return western or indian


def _digits(part: str) -> bool:
    return part.isascii() and part.isdigit()
