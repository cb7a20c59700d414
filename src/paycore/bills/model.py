"""Merchant statements: which line a journal movement belongs to, periods in the bill's
zone, and the seal over a month's lines. Pure rules; the journal is read in `store.py`.

A statement is derived from the ledger, never kept beside it: every figure is a sum of
balance changes of the merchant's accounts, so opening + movements = closing by
construction, and `paycore bills check` proves it against the journal itself.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from paycore.errors import Rejected

BILL_ZONE = ZoneInfo("Asia/Shanghai")
"""Days and months of a bill are the merchant's calendar days in China Standard Time: a
pay-in at 23:30 UTC on the 30th belongs to the 1st of the next month."""

MONTHS_SHOWN_MAX = 12
"""The bill's month-against-previous-months chart looks back at most this far."""

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")  # not \d: it reads other scripts' digits too


class Category(StrEnum):
    """What a movement on a merchant's account is, in the words of its bill."""

    PAYIN = "payin"  # money in from pay-ins, before fees
    FEE = "fee"  # what paycore charged (a pay-in's fee, a collection's fee)
    REFUND = "refund"
    PAYOUT = "payout"
    PAYOUT_RETURN = "payout_return"  # a payout the bank sent back
    SPLIT_RECEIVED = "split_received"
    SPLIT_PAID = "split_paid"
    CLAWBACK = "clawback"  # a split share taken back for a refund, or given back
    CUSTODY_RECEIPT = "custody_receipt"  # money landed in a custody sub-account
    CUSTODY_MATCH = "custody_match"  # a deposit matched and turned into commission
    CUSTODY_REFUND = "custody_refund"  # unmatched money sent back at the day's cut-off
    COLLECTION = "collection"
    REWARD = "reward"
    TOP_UP = "top_up"
    DEBT_REPAYMENT = "debt_repayment"
    ADJUSTMENT = "adjustment"  # reconciliation's corrections
    OWN_TRANSFER = "own_transfer"  # between the merchant's own API accounts
    OTHER = "other"


# (transfer id prefix, transfer code, money comes in) -> category. A code alone is not
# enough: recon's adjustment and split's share are both code 30.
_BY_PREFIX_CODE: dict[tuple[str, int], Category] = {
    ("tr_pay_", 1): Category.PAYIN,
    ("tr_pay_", 2): Category.FEE,
    ("tr_rf_", 5): Category.REFUND,
    ("tr_po_", 3): Category.PAYOUT,
    ("tr_po_", 4): Category.PAYOUT_RETURN,
    ("tr_cus_", 40): Category.CUSTODY_RECEIPT,
    ("tr_cus_", 41): Category.CUSTODY_REFUND,
    ("tr_cus_", 42): Category.CUSTODY_MATCH,
    ("tr_cus_", 43): Category.CUSTODY_MATCH,
    ("tr_col_", 50): Category.COLLECTION,
    ("tr_col_", 51): Category.FEE,
    ("tr_col_", 52): Category.PAYOUT,
    ("tr_top_", 20): Category.TOP_UP,
    ("tr_rpy_", 21): Category.DEBT_REPAYMENT,
    ("tr_rbf_", 60): Category.REWARD,
    ("tr_rw_", 61): Category.REWARD,
    ("tr_rbw_", 62): Category.REWARD,
    ("tr_adj_", 30): Category.ADJUSTMENT,
    ("tr_susp_", 29): Category.ADJUSTMENT,
    ("tr_spl_", 33): Category.CLAWBACK,
    ("tr_spl_", 34): Category.CLAWBACK,
}
_SPLIT_CODES = frozenset({30, 31, 32})


def classify(transfer_id: str, code: int, incoming: bool) -> Category:
    """The bill line of one balance change: by the flow that wrote the transfer (its id's
    namespace), its reason code and, for a split share, which side the account is on."""
    prefix = _prefix(transfer_id)
    if prefix == "tr_spl_" and code in _SPLIT_CODES:
        return Category.SPLIT_RECEIVED if incoming else Category.SPLIT_PAID
    found = _BY_PREFIX_CODE.get((prefix, code))
    if found is not None:
        return found
    return Category.OWN_TRANSFER if prefix == "" else Category.OTHER


def _prefix(transfer_id: str) -> str:
    """`tr_pay_` of `tr_pay_01..._cap`; '' for an id outside every flow's namespace."""
    if not transfer_id.startswith("tr_"):
        return ""
    end = transfer_id.find("_", 3)
    return transfer_id[: end + 1] if end > 3 else ""


@dataclass(frozen=True, slots=True)
class Balances:
    """An account's four balances at an instant (all zero before its first entry)."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def posted(self, debit_normal: bool) -> int:
        """The posted balance on the account's normal side."""
        net = self.credits_posted - self.debits_posted
        return -net if debit_normal else net

    def on_hold(self) -> int:
        """Money held on the account, going out or coming in."""
        return self.debits_pending + self.credits_pending


@dataclass(frozen=True, slots=True)
class Movement:
    """One line of movements: a category (with product and channel for money in), summed
    over a period. `amount_in`/`amount_out` are changes of the posted balance on the
    account's normal side, both ≥ 0."""

    account_id: str
    category: Category
    product: str = ""
    channel: str = ""
    amount_in: int = 0
    amount_out: int = 0
    count: int = 0

    @property
    def net(self) -> int:
        return self.amount_in - self.amount_out

    def line_filter(self, period_label: str) -> dict[str, str]:
        """What finds the transfers behind this line again (`Bills.line_transfers`)."""
        return {
            "period_label": period_label,
            "account_id": self.account_id,
            "category": self.category.value,
            "product": self.product,
            "channel": self.channel,
        }


@dataclass(frozen=True, slots=True)
class AccountStatement:
    account_id: str
    owner_id: str
    code: int
    currency: str
    debit_normal: bool
    opening: Balances
    closing: Balances
    movements: tuple[Movement, ...] = ()
    adjustment: int = 0
    """A correction to a sealed month found after it was sealed (see `Statement`)."""

    @property
    def movements_net(self) -> int:
        return sum(m.net for m in self.movements)

    def difference(self) -> int:
        """opening + adjustment + movements - closing: 0 for a statement that adds up."""
        return (
            self.opening.posted(self.debit_normal)
            + self.adjustment
            + self.movements_net
            - self.closing.posted(self.debit_normal)
        )


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC of a bill day or month, named by its calendar label."""

    label: str  # 2026-11 or 2026-11-30
    start: datetime
    end: datetime

    @property
    def is_month(self) -> bool:
        return len(self.label) == 7

    @property
    def days(self) -> list[date]:
        first = self.start.astimezone(BILL_ZONE).date()
        last = self.end.astimezone(BILL_ZONE).date()
        return [first + timedelta(days=n) for n in range((last - first).days)]


@dataclass(frozen=True, slots=True)
class Statement:
    """A merchant's (or one wallet owner's) statement for a period, per account."""

    merchant_id: str
    owner_id: str | None  # None: the whole merchant
    period: Period
    accounts: tuple[AccountStatement, ...]
    as_of: datetime
    """How fresh: the journal was read up to this instant (a replica may lag)."""
    sealed_hash: str | None = None
    extras: Mapping[str, object] = field(default_factory=dict)


def month_period(label: str) -> Period:
    """The calendar month `YYYY-MM` in the bill's zone, as a UTC window."""
    found = _MONTH.fullmatch(label)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise Rejected("invalid_month", f"month must be YYYY-MM, got {label!r}")
    year, month = int(found.group(1)), int(found.group(2))
    if not 1 < year < 9999:
        raise Rejected("date_out_of_range", f"month {label} is outside the calendar")
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return Period(label, _midnight(first), _midnight(following))


def period_of(label: str) -> Period:
    """A month `YYYY-MM` or a day `YYYY-MM-DD`."""
    if len(label) == 7:
        return month_period(label)
    try:
        day = date.fromisoformat(label) if len(label) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise Rejected("invalid_period", f"period must be YYYY-MM or YYYY-MM-DD, got {label!r}")
    return day_period(day)


def day_period(day: date) -> Period:
    if not date(1, 1, 1) < day < date(9999, 12, 31):
        raise Rejected("date_out_of_range", f"day {day} is outside the calendar")
    return Period(day.isoformat(), _midnight(day), _midnight(day + timedelta(days=1)))


def bill_day_of(at: datetime) -> date:
    """The bill day an instant belongs to."""
    return at.astimezone(BILL_ZONE).date()


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def previous_month(label: str) -> str:
    start = month_period(label).start.astimezone(BILL_ZONE).date()
    return month_of(start - timedelta(days=1))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BILL_ZONE).astimezone(UTC)


def owner_matches(merchant_id: str, owner_id: str | None, account_owner: str | None) -> bool:
    """Whether an account belongs on the statement: the merchant's own accounts and those
    of every wallet owner inside it (`merchant:owner`), or one wallet owner's only."""
    if account_owner is None:
        return False
    if owner_id is not None:
        return account_owner == f"{merchant_id}:{owner_id}"
    return account_owner == merchant_id or account_owner.startswith(f"{merchant_id}:")


def seal_hash(lines: Iterable[Mapping[str, object]], previous: str | None) -> str:
    """SHA-256 over a month's statement lines in canonical JSON, chained to the previous
    month's seal: editing a sealed month, or any month before it, changes every later seal."""
    digest = hashlib.sha256((previous or "").encode())
    for line in lines:
        digest.update(json.dumps(line, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def statement_lines(statement: Statement) -> list[dict[str, object]]:
    """The statement as flat lines, the form that is sealed, exported and checked."""
    lines: list[dict[str, object]] = []
    for account in sorted(statement.accounts, key=lambda a: a.account_id):
        base = {"account_id": account.account_id, "currency": account.currency}
        lines.append(
            {
                **base,
                "line": "opening",
                "amount": account.opening.posted(account.debit_normal),
                "balances": balances_list(account.opening),
            }
        )
        if account.adjustment:
            lines.append({**base, "line": "adjustment", "amount": account.adjustment})
        for m in sorted(account.movements, key=lambda m: (m.category.value, m.product, m.channel)):
            lines.append(
                {
                    **base,
                    "line": m.category.value,
                    "product": m.product,
                    "channel": m.channel,
                    "amount_in": m.amount_in,
                    "amount_out": m.amount_out,
                    "count": m.count,
                }
            )
        lines.append(
            {
                **base,
                "line": "closing",
                "amount": account.closing.posted(account.debit_normal),
                "balances": balances_list(account.closing),
            }
        )
        lines.append({**base, "line": "on_hold", "amount": account.closing.on_hold()})
    return lines


def balances_list(b: Balances) -> list[int]:
    """The four balances in the ledger's column order, as sealed lines keep them."""
    return [b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted]


def sealed_closings(lines: Iterable[Mapping[str, object]]) -> dict[str, Balances]:
    """Each account's closing balances in a sealed month's lines."""
    found: dict[str, Balances] = {}
    for line in lines:
        values = line.get("balances")
        if line.get("line") == "closing" and isinstance(values, list) and len(values) == 4:
            found[str(line["account_id"])] = Balances(*(int(v) for v in values))
    return found


def unbalanced(statements: Sequence[AccountStatement]) -> list[AccountStatement]:
    """The account statements whose opening + movements is not their closing."""
    return [s for s in statements if s.difference() != 0]
