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


@dataclass(frozen=True, slots=True)
class StatementInfo:
    format: str  # sandbox_csv | camt053 | camt054 | alipay | wechat
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


class Statement:
    """A parsed statement: `info` at once, `lines` streamed (bounded memory), and the
    control totals once the lines are exhausted."""

    def __init__(self, info: StatementInfo, lines: Iterator[StatementLine]) -> None:
        self.info = info
        self.lines = lines
        self.totals = ControlTotals()


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
    """'1,234.50' CNY -> 123450. Decimal text only (no floats); more decimals than the
    currency has is an error, not a rounding. Integer arithmetic on the digits: this runs
    once per statement line, millions of times a day."""
    if not is_known_currency(currency):
        raise MalformedStatement(f"unknown currency {currency!r}", line=line, field=field)
    cleaned = text.strip().replace(",", "")
    signed = cleaned[:1] in ("+", "-")
    sign = -1 if cleaned.startswith("-") else 1
    whole, dot, fraction = cleaned[1 if signed else 0 :].partition(".")
    if not (_digits(whole) and (not dot or _digits(fraction))):
        raise MalformedStatement(f"{text!r} is not an amount", line=line, field=field)
    exponent = currency_of(currency).exponent
    kept, dropped = fraction[:exponent], fraction[exponent:]
    if dropped.strip("0"):
        raise MalformedStatement(
            f"{text!r} has more decimals than {currency} allows", line=line, field=field
        )
    scale = int(10**exponent)
    return sign * (int(whole) * scale + int(kept.ljust(exponent, "0") or "0"))


def _digits(part: str) -> bool:
    return part.isascii() and part.isdigit()
