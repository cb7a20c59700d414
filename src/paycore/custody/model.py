"""Bank custody (资金存管): banks, sub-accounts, receipts, deals and the day's cut-off. Pure.
Which ledger accounts and transfers each flow posts is in `bookkeeping.py`.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paycore.errors import Rejected
from paycore.money import is_known_currency

OWNER_METADATA_KEY = "custody_owner"
CUTOFF_REFUND_REASON = "custody cut-off: unmatched at the end of the business day"
BANKS_MAX = 32
PRODUCTS_PER_BANK_MAX = 16
SUBACCOUNTS_CHECKED_MAX = 10_000
"""The daily check reads every sub-account of a bank; beyond this, split the bank."""

# Always fullmatch: `$` alone also matches before a trailing newline, and str.isdigit()
# takes digits of any script ("²", "٣") that no bank account number holds.
_BANK_NAME = re.compile(r"^[a-z][a-z0-9_]{1,23}$")
_PRODUCT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CUTOFF = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")
_VIRTUAL_ACCOUNT = re.compile(r"^[0-9]{8,32}$")
_PREFIX = re.compile(r"^[0-9]{1,8}$")


class Mode(enum.StrEnum):
    FULL = "full"  # the bank keeps a real account per owner
    LIGHT = "light"  # 轻存管: the bank keeps one pooled account; paycore the per-owner ledger


class Role(enum.StrEnum):
    BUYER = "buyer"
    SELLER = "seller"
    AGENCY = "agency"


class ReceiptStatus(enum.StrEnum):
    LANDING = "landing"  # recorded; the move into the sub-account has not succeeded yet
    UNMATCHED = "unmatched"
    MATCHED = "matched"
    REFUNDING = "refunding"  # the cut-off is sending it back
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"  # the refund failed: the money is back in custody


class ReceiptOrigin(enum.StrEnum):
    PAYIN = "payin"  # a custody pay-in: its id is the pay-in's, refunded through it
    STATEMENT = "statement"  # a bank statement showed money on a virtual account, no order:
    # paid back to the payer the statement names, by payout


class CutoffStep(enum.StrEnum):
    """The persisted steps of one receipt through the cut-off, in order."""

    DUE = "due"
    MOVED_BACK = "moved_back"  # sub-account -> merchant wallet posted
    REFUND_REQUESTED = "refund_requested"  # the refund order exists
    REPORTED = "reported"  # its row is in the run's report


class RestTo(enum.StrEnum):
    SELLER = "seller"
    BUYER = "buyer"


@dataclass(frozen=True, slots=True)
class CustodyBank:
    name: str
    currency: str
    products: tuple[str, ...]
    timezone: str = "Asia/Shanghai"
    cutoff: str = "24:00"
    mode: Mode = Mode.FULL
    virtual_account_prefix: str = "6228"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


DEFAULT_BANK = CustodyBank(name="sandbox_custody", currency="CNY", products=("house_deposit",))


# -- configuration ---------------------------------------------------------------------------


def parse_banks(doc: Any) -> list[CustodyBank]:
    """Banks from a decoded JSON document `{"banks": [{...}, ...]}`; every rule checked."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("banks"), list):
        raise Rejected("invalid_custody_config", 'expected {"banks": [ ... ]}')
    entries = doc["banks"]
    if not 0 < len(entries) <= BANKS_MAX:
        raise Rejected("invalid_custody_config", f"1 to {BANKS_MAX} banks")
    banks = [parse_bank(entry) for entry in entries]
    seen_names: set[str] = set()
    seen_products: set[str] = set()
    for bank in banks:
        if bank.name in seen_names:
            raise Rejected("custody_bank_twice", f"bank {bank.name} is configured twice")
        seen_names.add(bank.name)
        for product in bank.products:
            if product in seen_products:
                raise Rejected("custody_product_twice", f"{product} lands in one bank only")
            seen_products.add(product)
    return banks


_BANK_FIELDS = {"name", "currency", "products", "timezone", "cutoff", "mode"}
_BANK_FIELDS |= {"virtual_account_prefix"}


def parse_bank(entry: Any) -> CustodyBank:
    if not isinstance(entry, Mapping):
        raise Rejected("invalid_custody_config", "each bank is an object")
    unknown = set(entry) - _BANK_FIELDS
    if unknown:
        raise Rejected("invalid_custody_config", f"unknown fields {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _BANK_NAME.fullmatch(name):
        raise Rejected("invalid_bank_name", "name is 2-24 of a-z 0-9 _, starting with a letter")
    currency = entry.get("currency", "CNY")
    if not isinstance(currency, str) or not is_known_currency(currency):
        raise Rejected("unknown_currency", f"{currency!r} is not ISO 4217")
    products = entry.get("products")
    if (
        not isinstance(products, list)
        or not 0 < len(products) <= PRODUCTS_PER_BANK_MAX
        or not all(isinstance(p, str) and _PRODUCT.fullmatch(p) for p in products)
    ):
        raise Rejected("invalid_custody_products", f"1-{PRODUCTS_PER_BANK_MAX} product names")
    prefix = entry.get("virtual_account_prefix", "6228")
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise Rejected("invalid_virtual_account_prefix", "1-8 digits")
    bank = CustodyBank(
        name=name,
        currency=currency,
        products=tuple(products),
        timezone=_timezone(entry.get("timezone", "Asia/Shanghai")),
        cutoff=_cutoff(entry.get("cutoff", "24:00")),
        mode=_mode(entry.get("mode", "full")),
        virtual_account_prefix=prefix,
    )
    return bank


def _timezone(value: Any) -> str:
    try:
        if not isinstance(value, str) or not value:
            raise ValueError(value)  # pragma: no mutate: equivalent, caught below, unread
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Rejected("unknown_timezone", f"{value!r} is not an IANA time zone") from None
    return value


def _cutoff(value: Any) -> str:
    found = _CUTOFF.fullmatch(value) if isinstance(value, str) else None
    if found is None or (found.group(1) == "24" and found.group(2) != "00") or value == "00:00":
        raise Rejected("invalid_cutoff", "cutoff is HH:MM, 00:01 to 24:00")
    return str(value)


def _mode(value: Any) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise Rejected("invalid_custody_mode", "mode is full or light") from None


# -- business days ---------------------------------------------------------------------------


def day_end(bank: CustodyBank, business_date: date) -> datetime:
    """The instant (UTC) the business day ends: its cut-off in the bank's zone. "24:00"
    is the next midnight, so 23:59:59.999 belongs to the day and 00:00:00.000 does not."""
    hours, minutes = (int(part) for part in bank.cutoff.split(":"))
    local = datetime.combine(business_date, time(0), tzinfo=bank.tz)
    local += timedelta(hours=hours, minutes=minutes)
    # Wall-clock arithmetic, then to UTC: correct across a DST change in zones that have one.
    return local.replace(tzinfo=bank.tz).astimezone(UTC)


def day_window(bank: CustodyBank, business_date: date) -> tuple[datetime, datetime]:
    """[start, end) of a business day in UTC: from the previous day's cut-off to its own."""
    return day_end(bank, business_date - timedelta(days=1)), day_end(bank, business_date)


def check_business_date(bank: CustodyBank, business_date: date) -> None:
    """Refuse a day whose window falls off the calendar (year 1 or 9999) with a code."""
    try:
        day_window(bank, business_date)
    except OverflowError:
        raise Rejected("date_out_of_range", f"{business_date} is outside the calendar") from None


def business_date_of(bank: CustodyBank, at: datetime) -> date:
    """The business day an instant belongs to (a receipt after the cut-off is tomorrow's).
    An instant whose day's window falls off the calendar (year 1 or 9999) is refused."""
    try:
        local_date = at.astimezone(bank.tz).date()
        for candidate in (
            local_date - timedelta(days=1),
            local_date,
            local_date + timedelta(days=1),
        ):
            start, end = day_window(bank, candidate)
            if start <= at < end:
                return candidate
    except OverflowError:
        raise Rejected("date_out_of_range", f"{at.isoformat()} is outside the calendar") from None
    raise Rejected("invalid_cutoff", f"no business day holds {at.isoformat()}")


# -- virtual accounts ----------------------------------------------------------------------


def virtual_account_number(bank: CustodyBank, merchant_id: str, owner: str) -> str:
    """A deterministic number when the bank did not give one: the prefix and 16 digits."""
    raw = "|".join(("va", bank.name, merchant_id, owner)).encode()
    number = int(hashlib.blake2b(raw, digest_size=12).hexdigest(), 16) % 10**16
    return f"{bank.virtual_account_prefix}{number:016d}"


def check_virtual_account(number: str) -> None:
    if not _VIRTUAL_ACCOUNT.fullmatch(number):
        raise Rejected("invalid_virtual_account", "a virtual account number is 8-32 digits")


# -- deals -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deal:
    id: str
    merchant_id: str
    bank: str
    buyer: str
    seller: str
    agency: str
    deposit_amount: int
    currency: str
    funded_amount: int
    status: str  # open | closed
    created_at: datetime
    close_attempt: int = 1
    commission: int | None = None
    rest_to: RestTo | None = None
    closed_at: datetime | None = None


def check_deal_parties(buyer: str, seller: str, agency: str) -> None:
    if len({buyer, seller, agency}) != 3:
        raise Rejected("deal_parties_must_differ", "buyer, seller and agency are three owners")


def check_close(deal: Deal, commission: int) -> None:
    """What must hold before a deal's deposit moves: open, fully funded, commission within."""
    if deal.status != "open":
        raise Rejected("deal_already_closed", f"{deal.id} is {deal.status}")
    if deal.funded_amount != deal.deposit_amount:
        raise Rejected(
            "deal_not_funded",
            f"{deal.funded_amount} of the {deal.deposit_amount} deposit is matched so far",
        )
    if not 0 <= commission <= deal.deposit_amount:
        raise Rejected("invalid_commission", f"commission is 0 to {deal.deposit_amount}")


# -- receipts, runs and checks ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receipt:
    id: str  # the pay-in's id: one receipt per pay-in
    bank: str
    merchant_id: str
    owner: str
    amount: int
    currency: str
    received_at: datetime
    business_date: date
    status: ReceiptStatus
    deal_id: str | None = None
    cutoff_step: CutoffStep | None = None
    move_attempt: int = 1
    refund_id: str | None = None  # the cut-off's refund, or payout for a `statement` receipt
    error: str | None = None
    origin: ReceiptOrigin = ReceiptOrigin.PAYIN
    payer_enc: str | None = None  # a `statement` receipt's payer, sealed: where it goes back
    source_account: str | None = None  # None: the merchant's wallet (a pay-in's net)
    refund_attempt: int = 0  # the cut-off's refund (payout) orders that failed unsent so far


@dataclass(frozen=True, slots=True)
class ReportLine:
    receipt_id: str
    owner: str
    amount: int
    currency: str
    received_at: datetime
    reason: str
    refund_id: str | None
    outcome: str


REFUNDED = "refunded"
NEEDS_ATTENTION = "needs_attention"
"""A line's outcome when the money is back in custody for a person to settle, followed by
`:` and why (the refund's failure, or payments' refusal)."""


def needs_attention(reason: str) -> str:
    return f"{NEEDS_ATTENTION}:{reason}"


def line_is_settled(outcome: str) -> bool:
    """Paid, or handed to a person: nothing more for the cut-off to do on this line."""
    return outcome == REFUNDED or outcome.startswith(NEEDS_ATTENTION)


@dataclass(frozen=True, slots=True)
class CutoffRun:
    bank: str
    business_date: date
    status: str  # running | incomplete | completed; never goes back from completed
    started_at: datetime
    finished_at: datetime | None
    refunds: int
    report_path: str | None
    lines: tuple[ReportLine, ...] = ()

    @property
    def is_complete(self) -> bool:
        """Completed, and every line paid or handed to a person (a pay-in swept in after
        the run completed adds a line that the next ticks still drive)."""
        return self.status == "completed" and all(line_is_settled(x.outcome) for x in self.lines)


@dataclass(frozen=True, slots=True)
class DailyCheck:
    id: str
    bank: str
    business_date: date
    subaccounts_total: int
    pool_balance: int
    bank_balance: int | None
    checked_at: datetime

    @property
    def compared_to(self) -> int:
        return self.pool_balance if self.bank_balance is None else self.bank_balance

    @property
    def difference(self) -> int:
        return self.compared_to - self.subaccounts_total

    @property
    def ok(self) -> bool:
        return self.difference == 0 and self.pool_balance == self.subaccounts_total


@dataclass(frozen=True, slots=True)
class SubAccount:
    bank: str
    merchant_id: str
    owner: str
    role: Role
    virtual_account: str
    account_id: str
    currency: str
    balance: int
    available: int
