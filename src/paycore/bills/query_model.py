"""The rules of bill queries, without SQL: which filters each kind of row takes, periods
in the bill's zone, the rows' columns, and cursors.

A cursor is opaque to callers: it carries the key of the last row read and a fingerprint
of the query it belongs to, so a cursor replayed with other filters (or for another
merchant) is refused rather than silently misread, and a forged one is refused with a
stable code rather than crashing a page.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, unquote

from paycore.bills.model import Category, Period, day_period, month_period
from paycore.errors import Rejected
from paycore.ledger.model import TransferStatus
from paycore.limits import BUSINESS_DATE_MAX, BUSINESS_DATE_MIN, ID_LENGTH_MAX
from paycore.payments.model import OrderKind, OrderStatus
from paycore.text import check_text, is_ascii_digits

PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 1000
CURSOR_LENGTH_MAX = 1024
FILTER_LENGTH_MAX = 64

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # not \d: it takes every script's digits
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CURSOR_VERSION = "1"


class What(StrEnum):
    ORDERS = "orders"
    TRANSFERS = "transfers"
    LINES = "lines"


# What each kind of row may be filtered by; any other filter is `filter_not_supported`.
_SUPPORTED = {
    What.ORDERS: frozenset({"period", "product", "channel", "status", "kind"}),
    What.TRANSFERS: frozenset({"period", "status", "counterparty", "kind"}),
    What.LINES: frozenset({"period", "product", "channel", "kind", "owner"}),
}
_LINE_KINDS = frozenset({"opening", "adjustment", "closing", "on_hold"} | set(Category))
_KINDS = {
    What.ORDERS: frozenset(OrderKind),
    What.TRANSFERS: frozenset(Category),
    What.LINES: _LINE_KINDS,
}
_STATUSES = {What.ORDERS: frozenset(OrderStatus), What.TRANSFERS: frozenset(TransferStatus)}

COLUMNS: dict[What, tuple[str, ...]] = {
    What.ORDERS: (
        "id",
        "kind",
        "created_at",
        "bill_date",
        "merchant_reference",
        "product",
        "channel",
        "status",
        "currency",
        "amount_minor",
        "fee_minor",
        "refunded_minor",
        "counterparty",
        "parent_id",
        "finished_at",
        "description",
    ),
    What.TRANSFERS: (
        "id",
        "created_at",
        "bill_date",
        "account_id",
        "direction",
        "counterparty",
        "category",
        "currency",
        "amount_minor",
        "code",
        "status",
        "pending_id",
        "order_id",
    ),
    What.LINES: (
        "account_id",
        "line",
        "product",
        "channel",
        "currency",
        "amount_minor",
        "amount_in_minor",
        "amount_out_minor",
        "count",
    ),
}
"""Every row of a query is a dict with exactly these keys, in this order (the export's
header). Money is an integer of minor units beside its currency, never a float."""

Row = dict[str, str | int | None]


@dataclass(frozen=True, slots=True)
class Filters:
    period: Period | None = None
    product: str | None = None
    channel: str | None = None
    status: str | None = None
    counterparty: str | None = None
    kind: str | None = None
    owner: str | None = None

    def named(self) -> dict[str, str]:
        """The filters given, by name (`period` as its label)."""
        found = {k: v for k, v in asdict(self).items() if v is not None and k != "period"}
        if self.period is not None:
            found["period"] = self.period.label
        return found


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    next_cursor: str | None
    """None only when there is nothing after this page. A page may hold fewer rows than
    asked for (a filter the database cannot apply) and still have a next cursor."""


def period_of(
    *,
    month: str | None = None,
    day: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
) -> Period | None:
    """A month (YYYY-MM), a day, or an inclusive range of days (either end may be open),
    as a window in the bill's zone (Asia/Shanghai); at most one of the three forms."""
    forms = sum(1 for given in (month, day, date_from or date_to) if given)
    if forms > 1:
        raise Rejected("invalid_period", "give one of month, day, or from/to")
    if month:
        if not month.isascii():  # month_period's \d would read other scripts' digits
            raise Rejected("invalid_month", f"month must be YYYY-MM, got {month!r}")
        return month_period(month)
    if day:
        return day_period(_date(day, "day"))
    if not (date_from or date_to):
        return None
    first = _date(date_from, "from") if date_from else BUSINESS_DATE_MIN
    last = _date(date_to, "to") if date_to else BUSINESS_DATE_MAX
    if last < first:
        raise Rejected("invalid_period", f"to ({last}) is before from ({first})")
    label = f"{date_from or ''}..{date_to or ''}"
    return Period(label, day_period(first).start, day_period(last).end)


FILTER_NAMES = (
    "month",
    "day",
    "from",
    "to",
    "product",
    "channel",
    "status",
    "counterparty",
    "kind",
    "owner",
)


def filters_of(args: Mapping[str, str | None]) -> Filters:
    """Filters from their names as the API and the CLI spell them (`from`, `to`, `month`,
    `day`, `product`, ...): the form an export job keeps them in."""
    unknown = set(args) - set(FILTER_NAMES)
    if unknown:
        raise Rejected("filter_not_supported", f"no filter named {sorted(unknown)[0]!r}")
    given = {k: v for k, v in args.items() if v is not None and v != ""}
    return Filters(
        period=period_of(
            month=given.get("month"),
            day=given.get("day"),
            date_from=given.get("from"),
            date_to=given.get("to"),
        ),
        product=given.get("product"),
        channel=given.get("channel"),
        status=given.get("status"),
        counterparty=given.get("counterparty"),
        kind=given.get("kind"),
        owner=given.get("owner"),
    )


def _date(value: str, name: str) -> date:
    if not _DATE.fullmatch(value):
        raise Rejected("invalid_date", f"{name} must be YYYY-MM-DD, got {value!r}")
    try:
        found = date.fromisoformat(value)
    except ValueError:
        raise Rejected("invalid_date", f"{name} is not a calendar day: {value!r}") from None
    if not BUSINESS_DATE_MIN <= found <= BUSINESS_DATE_MAX:
        raise Rejected("date_out_of_range", f"{name} {value} is outside the years paycore takes")
    return found


def check_filters(what: What, filters: Filters) -> None:
    """Refuse a filter this kind of row cannot take, or a value it can never match."""
    for name, value in filters.named().items():
        if name not in _SUPPORTED[what]:
            raise Rejected("filter_not_supported", f"{what} cannot be filtered by {name}")
        check_text(value, field=name)
        if name != "period" and not 0 < len(value) <= FILTER_LENGTH_MAX:
            raise Rejected("invalid_filter", f"{name} is 1-{FILTER_LENGTH_MAX} characters")
    if filters.kind is not None and filters.kind not in _KINDS[what]:
        raise Rejected("invalid_filter", f"{what} have no kind {filters.kind!r}")
    statuses = _STATUSES.get(what)
    if filters.status is not None and statuses is not None and filters.status not in statuses:
        raise Rejected("invalid_filter", f"{what} have no status {filters.status!r}")
    if what is What.LINES and filters.period is None:
        raise Rejected("period_required", "statement lines are of a month or a day")
    if what is What.LINES and filters.period is not None and ".." in filters.period.label:
        raise Rejected("filter_not_supported", "statement lines are of a month or a day")


def page_size(limit: int | None) -> int:
    if limit is None:
        return PAGE_SIZE_DEFAULT
    if not 1 <= limit <= PAGE_SIZE_MAX:
        raise Rejected("limit_out_of_range", f"limit is 1-{PAGE_SIZE_MAX}")
    return limit


# -- cursors ---------------------------------------------------------------------------


def fingerprint(what: What, merchant_id: str, filters: Filters) -> str:
    canonical = "|".join(
        quote(part, safe="") for part in (what, merchant_id, *sorted(_flat(filters.named())))
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _flat(named: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in named.items()]


def encode_cursor(what: What, query: str, key: Sequence[str | int]) -> str:
    parts = [_CURSOR_VERSION, what.value, query, *(quote(str(p), safe="") for p in key)]
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def decode_cursor(what: What, query: str, cursor: str) -> list[str]:
    """The key parts of a cursor made by `encode_cursor` for this query, still as text.
    Refuses (`invalid_cursor`) anything else: a cursor is read, never trusted."""
    if len(cursor) > CURSOR_LENGTH_MAX or not _BASE64URL.fullmatch(cursor):
        raise Rejected("invalid_cursor", "the cursor is not one paycore made")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Rejected("invalid_cursor", "the cursor is not one paycore made") from None
    parts = raw.split("|")
    if len(parts) < 4 or parts[0] != _CURSOR_VERSION or parts[1] != what.value:
        raise Rejected("invalid_cursor", f"the cursor is not one of a {what} query")
    if parts[2] != query:
        raise Rejected("cursor_mismatch", "the cursor belongs to a query with other filters")
    return [unquote(p, errors="strict") for p in parts[3:]]


def _number(text: str, *, maximum: int) -> int:
    if not is_ascii_digits(text) or len(text) > 20 or int(text) > maximum:
        raise Rejected("invalid_cursor", "the cursor's position is not a number paycore made")
    return int(text)


def _text(text: str) -> str:
    if not 0 < len(text) <= ID_LENGTH_MAX:
        raise Rejected("invalid_cursor", "the cursor's position is not an id")
    return text


_INSTANT_MAX_US = (datetime(9999, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_SEQ_MAX = 2**63 - 1


def order_cursor_key(at: datetime, order_id: str) -> tuple[int, str]:
    """An order's key as a cursor holds it: microseconds since the epoch, and its id."""
    return (at - _EPOCH) // _MICROSECOND, order_id


def order_key(parts: list[str]) -> tuple[datetime, str]:
    if len(parts) != 2:
        raise Rejected("invalid_cursor", "an orders cursor holds an instant and an id")
    micros = _number(parts[0], maximum=_INSTANT_MAX_US)
    return _EPOCH + micros * _MICROSECOND, _text(parts[1])


def transfer_key(parts: list[str]) -> int:
    if len(parts) != 1:
        raise Rejected("invalid_cursor", "a transfers cursor holds one position")
    return _number(parts[0], maximum=_SEQ_MAX)


LineKey = tuple[str, int, str, str, str]
_LINE_RANK = {"opening": 0, "adjustment": 1, "closing": 3, "on_hold": 4}


def line_key_of(row: Row) -> LineKey:
    """Where a line sits in `statement_lines` order: by account, then opening,
    adjustment, movements by (category, product, channel), closing, on hold."""
    line = str(row["line"])
    return (
        str(row["account_id"]),
        _LINE_RANK.get(line, 2),
        line,
        str(row["product"] or ""),
        str(row["channel"] or ""),
    )


def line_key(parts: list[str]) -> LineKey:
    if len(parts) != 5:
        raise Rejected("invalid_cursor", "a lines cursor holds an account and a line")
    account, rank, line, product, channel = parts
    return (_text(account), _number(rank, maximum=4), line, product, channel)
