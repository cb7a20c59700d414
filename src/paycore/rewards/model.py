"""Cash rewards (现金奖励): budgets, batch files, row rules and row outcomes. Pure.

A reward budget is a ledger account of the merchant (code 2003, never below zero). A batch
pays many recipients from one budget; every row is validated first, and only valid rows
move money (budget → the recipient's wallet, one independent transfer per row).

Chart of accounts (ledger `code`):
  2003 reward budget   what a merchant set aside for rewards (never below zero)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paycore import limits
from paycore.errors import Rejected
from paycore.ledger.model import TRANSIENT_RESULTS
from paycore.security.masking import holds_personal_number
from paycore.wallets.model import check_owner

CODE_REWARD_BUDGET = 2003

REASON_BUDGET_FUND = 60
REASON_REWARD = 61
REASON_BUDGET_WITHDRAW = 62

BATCH_ROWS_MAX = 100_000
"""Rows of one batch file: ten times the 10,000-row batches the slice is measured on."""
BATCH_FILE_BYTES_MAX = 16 * 1024 * 1024
CHUNK_ROWS = 1_000
"""Transfers per `Ledger.create_transfers` call while paying a batch."""
ROWS_PAGE_MAX = 1_000
ROWS_PAGE_DEFAULT = 100
NOTE_LENGTH_MAX = 256
ROW_NUMBER_MAX = 10**9

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_DIGITS = re.compile(r"^[0-9]{1,18}$")


class RowStatus:
    PENDING = "pending"  # valid, not paid yet (or paid by a run that crashed before recording)
    PAID = "paid"
    FAILED = "failed"  # valid, refused by the ledger; `retryable` says if a re-run tries again
    INVALID = "invalid"  # never paid


def check_name(kind: str, value: str) -> None:
    """Budget and batch ids are chosen by the merchant: 1-64 letters, digits, '_', '.', '-'."""
    if not _NAME.fullmatch(value):
        raise Rejected(f"invalid_{kind}_id", f"{kind} id is 1-64 letters, digits, '_', '.', '-'")
    check_not_personal(kind, value)


def check_not_personal(kind: str, value: str) -> None:
    """A budget or batch id is a key, shown as sent in answers, result files and ledger
    metadata: it cannot be masked, so one holding a card, ID or mobile number is refused."""
    if holds_personal_number(value):
        raise Rejected(
            "identifier_has_personal_data",
            f"{kind} id holds a card, ID or mobile number; choose an id of your own",
        )


def _digest(*parts: str) -> str:
    # Hashed: merchant id + batch id + row + attempt would not fit the 64-character ledger id.
    return hashlib.blake2b("|".join(parts).encode(), digest_size=12).hexdigest()


def budget_account(merchant_id: str, budget_id: str) -> str:
    return f"acct_rb_{_digest('budget', merchant_id, budget_id)}"


def fund_transfer_id(merchant_id: str, budget_id: str, reference: str) -> str:
    return f"tr_rbf_{_digest('fund', merchant_id, budget_id, reference)}"


def withdraw_transfer_id(merchant_id: str, budget_id: str, reference: str) -> str:
    return f"tr_rbw_{_digest('withdraw', merchant_id, budget_id, reference)}"


def reward_transfer_id(merchant_id: str, batch_id: str, row: int, attempt: int) -> str:
    """One id per row and attempt: the ledger remembers a failed id, so a retry needs a new one,
    and a paid row keeps the id it was paid with."""
    return f"tr_rw_{_digest('reward', merchant_id, batch_id, str(row), str(attempt))}"


@dataclass(frozen=True, slots=True)
class Budget:
    merchant_id: str
    id: str
    name: str
    currency: str
    account_id: str
    row_amount_max: int  # one row pays at most this
    recipient_total_max: int  # one recipient gets at most this from the budget, over all batches
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BudgetBalance:
    budget: Budget
    balance: int
    funded: int  # every credit: fundings
    spent: int  # every debit: rewards paid and withdrawals


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row as the file gave it, before any rule: texts, or None where missing."""

    position: int  # 1-based place in the file
    row: Any
    recipient: Any
    amount: Any
    currency: Any
    note: Any


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """A row after validation: valid rows have an amount, invalid ones a reason."""

    position: int
    row: int | None  # None: the row number given was not a positive integer
    recipient: str
    amount: int | None
    amount_text: str
    note: str
    reason: str | None  # None: valid

    @property
    def valid(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class RowOutcome:
    position: int
    row: int | None
    recipient: str
    amount: int | None
    amount_text: str
    note: str
    status: str
    reason: str | None
    retryable: bool
    attempt: int
    transfer_id: str | None


@dataclass(frozen=True, slots=True)
class BatchSummary:
    merchant_id: str
    id: str
    budget_id: str
    currency: str
    file_sha256: str
    rows: int
    counts: Mapping[str, int]  # status -> rows
    paid_amount: int
    retryable_rows: int
    runs: int
    created_at: datetime
    updated_at: datetime


def parse_amount(value: Any) -> int | None:
    """A positive integer of minor units, or None: "1.5", "-3", "abc", "", 1.0 and True are bad."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        amount = int(value)
    else:
        return None
    return amount if 0 < amount <= limits.PAYMENT_AMOUNT_MAX else None


def _row_number(raw: RawRow) -> int | None:
    if raw.row is None or raw.row == "":
        return raw.position
    number = parse_amount(raw.row)
    return number if number is not None and number <= ROW_NUMBER_MAX else None


def _text(value: Any, length: int) -> str:
    return "" if value is None else str(value)[:length]


# -- rules ----------------------------------------------------------------------------------


def plan_rows(
    raws: Iterable[RawRow],
    *,
    budget: Budget,
    known_recipients: frozenset[str],
    paid_so_far: Mapping[str, int],
) -> list[PlannedRow]:
    """Validate every row in file order. `paid_so_far` is what each recipient already got or
    has reserved from this budget; valid rows of this batch add to it as they are planned."""
    totals = dict(paid_so_far)
    seen_rows: set[int] = set()
    planned: list[PlannedRow] = []
    for raw in raws:
        if len(planned) >= BATCH_ROWS_MAX:
            raise Rejected("batch_too_large", f"a batch has at most {BATCH_ROWS_MAX:,} rows")
        number = _row_number(raw)
        amount = parse_amount(raw.amount)
        recipient = _text(raw.recipient, 64)
        reason = _reason(raw, number, amount, recipient, budget, known_recipients, totals)
        if number is not None and number in seen_rows:
            reason = "duplicate_row"
        if number is not None:
            seen_rows.add(number)
        if reason is None and amount is not None:
            totals[recipient] = totals.get(recipient, 0) + amount
        planned.append(
            PlannedRow(
                position=raw.position,
                row=number,
                recipient=recipient,
                amount=amount,
                amount_text=_text(raw.amount, 32),
                note=_text(raw.note, NOTE_LENGTH_MAX),
                reason=reason,
            )
        )
    return planned


def _reason(
    raw: RawRow,
    number: int | None,
    amount: int | None,
    recipient: str,
    budget: Budget,
    known_recipients: frozenset[str],
    totals: Mapping[str, int],
) -> str | None:
    """The first rule the row breaks, or None."""
    if number is None:
        return "bad_row_number"
    if not isinstance(raw.recipient, str) or not recipient:
        return "missing_recipient"
    if recipient not in known_recipients:
        return "unknown_recipient"
    if amount is None:
        return "bad_amount"
    if raw.currency not in (None, "", budget.currency):
        return "wrong_currency"
    if amount > budget.row_amount_max:
        return "over_row_limit"
    if totals.get(recipient, 0) + amount > budget.recipient_total_max:
        return "over_recipient_limit"
    return None


def plausible_recipients(raws: Iterable[RawRow]) -> set[str]:
    """Recipients worth looking up: well-formed wallet owners."""
    found: set[str] = set()
    for raw in raws:
        if isinstance(raw.recipient, str):
            try:
                check_owner(raw.recipient)
            except Rejected:
                continue
            found.add(raw.recipient)
    return found


def outcome_of(result: str) -> tuple[str, str | None, bool]:
    """(status, reason, retryable) of a row from the ledger's answer to its transfer."""
    if result in ("created", "exists"):
        return RowStatus.PAID, None, False
    if result == "exceeds_credits":
        return RowStatus.FAILED, "budget_exhausted", True
    if result == "id_already_failed":
        # This attempt failed in a run that crashed before saying why; the next attempt retries.
        return RowStatus.FAILED, "attempt_failed", True
    return RowStatus.FAILED, result, result in TRANSIENT_RESULTS
