"""A small ledger written from the rules alone, to check the real one against.

`ReferenceLedger` re-states the transfer rules without `Posting` and predicts every
result code and balance; the state machine in test_ledger_matches_reference_model.py
drives both and compares.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from paycore import limits
from paycore.ledger.model import (
    RESULTS,
    AccountFlags,
    TransferFlags,
    TransferRequest,
)

NONE = TransferFlags.NONE
LINKED = TransferFlags.LINKED
PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING
VOID = TransferFlags.VOID_PENDING
BALANCING_DR = TransferFlags.BALANCING_DEBIT
BALANCING_CR = TransferFlags.BALANCING_CREDIT
DR_LIMIT = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
CR_LIMIT = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS

CURRENCIES = ("CNY", "USD")
KNOWN_CURRENCIES = frozenset({"CNY", "USD", "EUR"})  # requests also use EUR (no accounts), ZZZ
ACCOUNT_FLAGS = (AccountFlags.NONE, AccountFlags.NONE, DR_LIMIT, CR_LIMIT)
ACCOUNTS_MAX = 8
TIMEOUT_TOO_LONG_S = limits.TRANSFER_TIMEOUT_S_MAX + 1
STATE_DEPENDENT = frozenset(RESULTS[RESULTS.index("accounts_must_be_different") + 1 :])
"""Failures remembered per id: a retry returns id_already_failed (the ledger's contract)."""
RESOLVED = {
    "pending_posted": "pending_transfer_already_posted",
    "pending_voided": "pending_transfer_already_voided",
    "pending_expired": "pending_transfer_expired",
}


# -- the reference model -----------------------------------------------------------------


@dataclass
class RefAccount:
    currency: str
    flags: AccountFlags
    status: str = "active"
    owner_id: str | None = None  # None: a system account (clearing, fees, ...)
    dr_pending: int = 0
    dr_posted: int = 0
    cr_pending: int = 0
    cr_posted: int = 0

    def balances(self) -> tuple[int, int, int, int]:
        return (self.dr_pending, self.dr_posted, self.cr_pending, self.cr_posted)


@dataclass
class RefTransfer:
    request: TransferRequest
    debit: str
    credit: str
    amount: int
    currency: str
    code: int
    expires_at_s: int | None
    status: str


def shape_problem(t: TransferRequest) -> str | None:
    """Rules on the request alone, in the order of RESULTS."""
    phases = sum(bool(t.flags & f) for f in (PENDING, POST, VOID))
    resolves = bool(t.flags & (POST | VOID))
    balancing = bool(t.flags & (BALANCING_DR | BALANCING_CR))
    rules = (
        (not t.id, "id_must_not_be_empty"),
        (len(t.id) > limits.ID_LENGTH_MAX, "id_too_long"),
        (phases > 1 or (resolves and balancing), "flags_are_mutually_exclusive"),
        (resolves and not t.pending_id, "pending_id_must_be_set"),
        (not resolves and bool(t.pending_id), "pending_id_must_not_be_set"),
        (t.pending_id == t.id, "pending_id_must_be_different"),
        (t.timeout_s != 0 and not t.flags & PENDING, "timeout_reserved_for_pending_transfer"),
        (
            (t.amount is None and not resolves) or (t.amount is not None and t.amount <= 0),
            "amount_must_be_positive",
        ),
        (t.amount is not None and t.amount > limits.AMOUNT_MAX, "amount_must_not_exceed_max"),
        (not 0 <= t.code <= limits.CODE_MAX, "code_must_not_exceed_max"),
        (
            (t.currency is None and not resolves)
            or (t.currency is not None and t.currency not in KNOWN_CURRENCIES),
            "unknown_currency",
        ),
    )
    return next((code for broken, code in rules if broken), None)


def replay_result(t: TransferRequest, e: RefTransfer) -> str:
    """A request under an id that exists: `exists` only if nothing it states differs."""
    balancing = bool(t.flags & (BALANCING_DR | BALANCING_CR))
    rules = (
        (t.flags != e.request.flags, "exists_with_different_flags"),
        (t.pending_id != e.request.pending_id, "exists_with_different_pending_id"),
        (t.timeout_s != e.request.timeout_s, "exists_with_different_timeout_s"),
        (t.debit_account_id not in (None, e.debit), "exists_with_different_debit_account_id"),
        (t.credit_account_id not in (None, e.credit), "exists_with_different_credit_account_id"),
        (
            t.amount is not None and (t.amount < e.amount if balancing else t.amount != e.amount),
            "exists_with_different_amount",
        ),
        (t.currency not in (None, e.currency), "exists_with_different_currency"),
        (t.code not in (0, e.code), "exists_with_different_code"),
        ((t.metadata or {}) != (e.request.metadata or {}), "exists_with_different_metadata"),
    )
    return next((code for broken, code in rules if broken), "exists")


def status_problem(t: TransferRequest, debit: RefAccount, credit: RefAccount) -> str | None:
    """A frozen or closed account takes nothing new, except that money a bank confirmed
    arriving (a plain transfer a flow marks `bank_confirmed`, out of a system account
    that is not frozen) is recorded in a frozen account."""
    arrival = (
        t.bank_confirmed
        and not t.flags & (PENDING | BALANCING_DR | BALANCING_CR)
        and debit.owner_id is None
    )
    if debit.status == "frozen" or (credit.status == "frozen" and not arrival):
        return "account_frozen"
    if "closed" in (debit.status, credit.status):
        return "account_closed"
    return None


def overflow_problem(
    debit: RefAccount, credit: RefAccount, amount: int, *, pending: bool
) -> str | None:
    """Balances are signed 64-bit: no balance, nor pending plus posted, may pass AMOUNT_MAX."""
    top = limits.AMOUNT_MAX
    rules = (
        (pending and debit.dr_pending + amount > top, "overflows_debits_pending"),
        (pending and credit.cr_pending + amount > top, "overflows_credits_pending"),
        (not pending and debit.dr_posted + amount > top, "overflows_debits_posted"),
        (not pending and credit.cr_posted + amount > top, "overflows_credits_posted"),
        (debit.dr_pending + debit.dr_posted + amount > top, "overflows_debits"),
        (credit.cr_pending + credit.cr_posted + amount > top, "overflows_credits"),
    )
    return next((code for broken, code in rules if broken), None)


def chains(batch: Sequence[TransferRequest]) -> Iterator[Sequence[TransferRequest]]:
    start = 0
    for i, t in enumerate(batch):
        if not t.flags & LINKED or i == len(batch) - 1:
            yield batch[start : i + 1]
            start = i + 1


class ReferenceLedger:
    """Balances per account, every transfer, failed ids and a clock in whole seconds."""

    def __init__(self) -> None:
        self.accounts: dict[str, RefAccount] = {}
        self.transfers: dict[str, RefTransfer] = {}
        self.failed: dict[str, str] = {}
        self.now_s = 0

    def expire(self) -> None:
        for hold in self.transfers.values():
            due = hold.expires_at_s is not None and hold.expires_at_s <= self.now_s
            if hold.status == "pending" and due:
                self._move(hold.debit, hold.credit, -hold.amount, pending=True)
                hold.status = "pending_expired"

    def apply(self, batch: Sequence[TransferRequest]) -> list[str]:
        self.expire()
        results: list[str] = []
        for chain in chains(batch):
            results.extend(self._apply_chain(chain))
        return results

    def _apply_chain(self, chain: Sequence[TransferRequest]) -> list[str]:
        if chain[-1].flags & LINKED:
            return ["linked_event_failed"] * (len(chain) - 1) + ["linked_event_chain_open"]
        if len(chain) == 1:
            result = self._apply_one(chain[0])
            if result in STATE_DEPENDENT:
                self.failed.setdefault(chain[0].id, result)
            return [result]
        saved = copy.deepcopy((self.accounts, self.transfers))
        results = []
        for i, t in enumerate(chain):
            result = self._apply_one(t)
            if result not in ("created", "exists"):
                self.accounts, self.transfers = saved
                if result in STATE_DEPENDENT:
                    self.failed.setdefault(t.id, result)
                results = ["linked_event_failed"] * len(chain)
                results[i] = result
                return results
            results.append(result)
        return results

    def _apply_one(self, t: TransferRequest) -> str:
        problem = shape_problem(t)
        if problem:
            return problem
        if t.id in self.transfers:
            return replay_result(t, self.transfers[t.id])
        if t.id in self.failed:
            return "id_already_failed"
        if t.debit_account_id is not None and t.debit_account_id == t.credit_account_id:
            return "accounts_must_be_different"
        if t.flags & (POST | VOID):
            return self._resolve(t)
        return self._create(t)

    def _create(self, t: TransferRequest) -> str:
        debit = self.accounts.get(t.debit_account_id or "")
        credit = self.accounts.get(t.credit_account_id or "")
        if debit is None:
            return "debit_account_not_found"
        if credit is None:
            return "credit_account_not_found"
        if not debit.currency == credit.currency == t.currency:
            return "currency_mismatch"
        if status_problem(t, debit, credit):
            return status_problem(t, debit, credit) or ""
        if t.timeout_s > limits.TRANSFER_TIMEOUT_S_MAX:
            return "overflows_timeout"
        amount, pending = t.amount or 0, bool(t.flags & PENDING)
        if t.flags & BALANCING_DR:
            amount = min(amount, max(0, debit.cr_posted - debit.dr_posted - debit.dr_pending))
            if amount == 0:
                return "exceeds_credits"
        if t.flags & BALANCING_CR:
            amount = min(amount, max(0, credit.dr_posted - credit.cr_posted - credit.cr_pending))
            if amount == 0:
                return "exceeds_debits"
        overflow = overflow_problem(debit, credit, amount, pending=pending)
        if overflow:
            return overflow
        if debit.flags & DR_LIMIT and debit.dr_pending + debit.dr_posted + amount > debit.cr_posted:
            return "exceeds_credits"
        if (
            credit.flags & CR_LIMIT
            and credit.cr_pending + credit.cr_posted + amount > credit.dr_posted
        ):
            return "exceeds_debits"
        self._move(t.debit_account_id or "", t.credit_account_id or "", amount, pending=pending)
        expires_at_s = self.now_s + t.timeout_s if t.timeout_s else None
        self.transfers[t.id] = RefTransfer(
            t,
            t.debit_account_id or "",
            t.credit_account_id or "",
            amount,
            t.currency or "",
            t.code,
            expires_at_s,
            "pending" if pending else "posted",
        )
        return "created"

    def _resolve(self, t: TransferRequest) -> str:
        hold = self.transfers.get(t.pending_id or "")
        if hold is None:
            return "pending_transfer_not_found"
        if not hold.request.flags & PENDING:
            return "pending_transfer_not_pending"
        if t.debit_account_id not in (None, hold.debit):
            return "pending_transfer_has_different_debit_account_id"
        if t.credit_account_id not in (None, hold.credit):
            return "pending_transfer_has_different_credit_account_id"
        if t.currency not in (None, hold.currency):
            return "pending_transfer_has_different_currency"
        if t.flags & VOID and t.amount not in (None, hold.amount):
            return "pending_transfer_has_different_amount"
        if hold.status in RESOLVED:
            return RESOLVED[hold.status]
        amount = hold.amount if t.amount is None else t.amount
        if amount > hold.amount:
            return "exceeds_pending_transfer_amount"
        is_post = bool(t.flags & POST)
        # A live hold predates any freeze (a frozen account takes no new one): it is
        # committed money, so it may be posted or voided whatever the accounts' status.
        self._move(hold.debit, hold.credit, -hold.amount, pending=True)
        if is_post:
            self._move(hold.debit, hold.credit, amount, pending=False)
        hold.status = "pending_posted" if is_post else "pending_voided"
        self.transfers[t.id] = RefTransfer(
            t,
            hold.debit,
            hold.credit,
            amount,
            hold.currency,
            t.code or hold.code,
            None,
            "posted" if is_post else "voided",
        )
        return "created"

    def _move(self, debit_id: str, credit_id: str, amount: int, *, pending: bool) -> None:
        debit, credit = self.accounts[debit_id], self.accounts[credit_id]
        if pending:
            debit.dr_pending += amount
            credit.cr_pending += amount
        else:
            debit.dr_posted += amount
            credit.cr_posted += amount
