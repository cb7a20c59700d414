"""Applying a batch of transfers in memory: the ledger's rules, one result per transfer.

`Posting` works on account and transfer objects that the store loaded (and locked),
records what changed, and undoes a linked chain that fails. The service then writes
what changed in one transaction. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from paycore import limits
from paycore.ledger.model import (
    CREDITS_LIMITED,
    DEBITS_LIMITED,
    TRANSIENT_RESULTS,
    AccountState,
    AccountStatus,
    Caller,
    Entry,
    Transfer,
    TransferFlags,
    TransferRequest,
    TransferStatus,
    takes_bank_confirmed,
)
from paycore.money import is_known_currency

_LINKED = TransferFlags.LINKED.value
_PENDING = TransferFlags.PENDING.value
_POST = TransferFlags.POST_PENDING.value
_VOID = TransferFlags.VOID_PENDING.value
_BALANCING_DEBIT = TransferFlags.BALANCING_DEBIT.value
_BALANCING_CREDIT = TransferFlags.BALANCING_CREDIT.value


def _structural_result(t: TransferRequest) -> str | None:
    """Rules that need nothing but the request itself."""
    if not t.id:
        return "id_must_not_be_empty"
    if len(t.id) > limits.ID_LENGTH_MAX:
        return "id_too_long"
    phase = t.flags & (_PENDING | _POST | _VOID)
    if phase and phase.bit_count() > 1:
        return "flags_are_mutually_exclusive"
    is_balancing = t.flags & (_BALANCING_DEBIT | _BALANCING_CREDIT)
    resolves = bool(t.flags & (_POST | _VOID))
    if resolves and is_balancing:
        return "flags_are_mutually_exclusive"
    if resolves and not t.pending_id:
        return "pending_id_must_be_set"
    if not resolves and t.pending_id:
        return "pending_id_must_not_be_set"
    if t.pending_id and t.pending_id == t.id:
        return "pending_id_must_be_different"
    if t.timeout_s and not t.flags & _PENDING:
        return "timeout_reserved_for_pending_transfer"
    if t.amount is None and not resolves:
        return "amount_must_be_positive"
    if t.amount is not None and t.amount <= 0:
        return "amount_must_be_positive"
    if t.amount is not None and t.amount > limits.AMOUNT_MAX:
        return "amount_must_not_exceed_max"
    if not 0 <= t.code <= limits.CODE_MAX:
        return "code_must_not_exceed_max"
    if t.currency is not None and not is_known_currency(t.currency):
        return "unknown_currency"
    if not resolves and t.currency is None:
        return "unknown_currency"
    return None


def _exists_result(t: TransferRequest, e: Transfer) -> str:
    """Compare a replayed request with the transfer stored under its id."""
    if t.flags != e.flags:
        return "exists_with_different_flags"
    if t.pending_id != e.pending_id:
        return "exists_with_different_pending_id"
    if t.timeout_s != e.timeout_s:
        return "exists_with_different_timeout_s"
    if t.debit_account_id is not None and t.debit_account_id != e.debit_account_id:
        return "exists_with_different_debit_account_id"
    if t.credit_account_id is not None and t.credit_account_id != e.credit_account_id:
        return "exists_with_different_credit_account_id"
    if t.amount is not None:
        balancing = t.flags & (_BALANCING_DEBIT | _BALANCING_CREDIT)
        # A balancing transfer may have been clamped below what was asked for.
        if (t.amount < e.amount) if balancing else (t.amount != e.amount):
            return "exists_with_different_amount"
    if t.currency is not None and t.currency != e.currency:
        return "exists_with_different_currency"
    if t.code and t.code != e.code:
        return "exists_with_different_code"
    if dict(t.metadata or {}) != dict(e.metadata):
        return "exists_with_different_metadata"
    return "exists"


@dataclass
class Posting:
    """Applies transfers to loaded accounts and transfers, remembering how to undo them.

    `accounts` and `transfers` are what the store loaded for this batch; `failed`
    maps ids that failed before to their result. After `apply`, `created`,
    `entries`, `failures`, `dirty_accounts` and `dirty_transfers` say what to write.
    """

    accounts: dict[str, AccountState]
    transfers: dict[str, Transfer]
    failed: dict[str, str]
    now: datetime
    created: list[Transfer] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    dirty_accounts: set[str] = field(default_factory=set)
    dirty_transfers: set[str] = field(default_factory=set)
    _undo: list[tuple[Any, ...]] = field(default_factory=list)
    _in_chain: bool = False
    _caller: Caller | None = None

    def _account(self, account_id: str | None) -> AccountState | None:
        """The account, or None if missing or out of the current caller's reach: a caller
        of the API gets exactly the answer a missing account gets."""
        account = self.accounts.get(account_id or "")
        if account is None or self._caller is None or self._caller.reaches(account):
            return account
        return None

    def _hold(self, pending_id: str | None) -> Transfer | None:
        """The hold, or None if missing or between accounts the caller cannot reach (the
        service loads a caller's holds' accounts, so both are here)."""
        hold = self.transfers.get(pending_id or "")  # pragma: no mutate: equivalent, always set
        if hold is None or self._caller is None:
            return hold
        debit = self._account(hold.debit_account_id)
        credit = self._account(hold.credit_account_id)
        return hold if debit is not None and credit is not None else None

    # -- batch and chain handling -------------------------------------------------

    def apply(self, batch: Sequence[TransferRequest], caller: Caller | None = None) -> list[str]:
        """Apply one client batch; linked chains are all-or-nothing; one result per transfer.
        `caller`: an API caller, who reaches only some accounts; None for a flow."""
        results: list[str] = [""] * len(batch)  # pragma: no mutate: equivalent, all slots written
        self._caller = caller
        try:
            i = 0
            while i < len(batch):
                end = i
                while end < len(batch) - 1 and batch[end].flags & _LINKED:
                    end += 1
                chain_open = bool(batch[end].flags & _LINKED)
                self._apply_chain(batch, i, end, chain_open, results)
                i = end + 1
        finally:
            self._caller = None
        return results

    def _apply_chain(
        self,
        batch: Sequence[TransferRequest],
        start: int,
        end: int,
        chain_open: bool,
        results: list[str],
    ) -> None:
        if chain_open:
            results[start : end + 1] = ["linked_event_failed"] * (end - start + 1)
            results[end] = "linked_event_chain_open"
            return
        if start == end:  # a lone transfer changes nothing before it fails: no undo log
            results[start] = self._apply_one(batch[start])
            return
        self._in_chain = True
        mark = self._mark()
        try:
            for k in range(start, end + 1):
                result = self._apply_one(batch[k])
                results[k] = result
                if result not in ("created", "exists"):
                    self._rollback(mark)
                    results[start : end + 1] = ["linked_event_failed"] * (end - start + 1)
                    results[k] = result
                    return
        finally:
            self._in_chain = False  # pragma: no mutate: equivalent, None is as false

    def _mark(self) -> tuple[int, int, int]:
        return (len(self._undo), len(self.created), len(self.entries))

    def _rollback(self, mark: tuple[int, int, int]) -> None:
        undo_len, created_len, entries_len = mark
        while len(self._undo) > undo_len:
            obj, attrs = self._undo.pop()
            for name, value in attrs.items():
                setattr(obj, name, value)
        for t in self.created[created_len:]:
            del self.transfers[t.id]
        del self.created[created_len:]
        del self.entries[entries_len:]

    def _remember(self, obj: AccountState | Transfer, *names: str) -> None:
        # Outside a linked chain a transfer fails before it changes anything, so only a
        # chain needs the means to undo what its earlier transfers did.
        if self._in_chain:
            self._undo.append((obj, {name: getattr(obj, name) for name in names}))

    # -- one transfer ---------------------------------------------------------------

    def _apply_one(self, t: TransferRequest) -> str:
        result = self._check_and_apply(t)
        # Remembered inside a linked chain too: the chain is undone, but the transfer that
        # broke it must not succeed on a later retry any more than a lone transfer may.
        if result in TRANSIENT_RESULTS and t.id not in self.failed:
            self.failed[t.id] = result
            self.failures[t.id] = result
        return result

    def _check_and_apply(self, t: TransferRequest) -> str:
        structural = _structural_result(t)
        if structural:
            return structural
        existing = self.transfers.get(t.id)
        if existing is not None:
            return _exists_result(t, existing)
        if t.id in self.failed:
            return "id_already_failed"
        if t.debit_account_id is not None and t.debit_account_id == t.credit_account_id:
            return "accounts_must_be_different"
        if t.flags & (_POST | _VOID):
            return self._resolve_pending(t)
        return self._post_new(t)

    def _accounts_result(
        self, t: TransferRequest, debit: AccountState | None, credit: AccountState | None
    ) -> str | None:
        if debit is None:
            return "debit_account_not_found"
        if credit is None:
            return "credit_account_not_found"
        if debit.currency != t.currency or credit.currency != t.currency:
            return "currency_mismatch"
        if debit.status == AccountStatus.FROZEN:
            return "account_frozen"
        # Money a bank confirmed arriving is recorded in a frozen account (and stays frozen
        # there); only a flow marks it so (the service refuses the marker from a caller).
        if credit.status == AccountStatus.FROZEN and not (
            self._caller is None and takes_bank_confirmed(t, debit)
        ):
            return "account_frozen"
        for account in (debit, credit):
            if account.status == AccountStatus.CLOSED:
                return "account_closed"
        return None

    def _post_new(self, t: TransferRequest) -> str:
        currency = t.currency or ""  # pragma: no mutate: equivalent, never None here
        if self._caller is None:  # a flow reaches every account: skip the per-caller test
            debit = self.accounts.get(t.debit_account_id or "")
            credit = self.accounts.get(t.credit_account_id or "")
        else:
            debit = self._account(t.debit_account_id)
            credit = self._account(t.credit_account_id)
        problem = self._accounts_result(t, debit, credit)
        if problem or debit is None or credit is None:  # pragma: no mutate: equivalent, problem set
            return problem or "debit_account_not_found"  # pragma: no mutate: equivalent, unreached
        if not 0 <= t.timeout_s <= limits.TRANSFER_TIMEOUT_S_MAX:
            return "overflows_timeout"
        amount = t.amount or 0  # pragma: no mutate: equivalent, never None or 0
        if t.flags & _BALANCING_DEBIT:
            room = debit.credits_posted - debit.debits_posted - debit.debits_pending
            amount = min(amount, max(room, 0))
            if amount == 0:
                return "exceeds_credits"
        if t.flags & _BALANCING_CREDIT:
            room = credit.debits_posted - credit.credits_posted - credit.credits_pending
            amount = min(amount, max(room, 0))
            if amount == 0:
                return "exceeds_debits"
        pending = bool(t.flags & _PENDING)
        problem = _limits_result(debit, credit, amount, pending=pending)
        if problem:
            return problem
        self._move(debit, credit, amount, pending=pending, sign=1)
        expires_at = self.now + timedelta(seconds=t.timeout_s) if t.timeout_s else None
        status = TransferStatus.PENDING if pending else TransferStatus.POSTED
        created = self._create(t, debit.id, credit.id, amount, currency, t.code, expires_at, status)
        self._entries(created, "pending" if pending else "posted", debit, credit, amount)
        return "created"

    def _resolve_pending(self, t: TransferRequest) -> str:
        pending = self._hold(t.pending_id)
        if pending is None:
            return "pending_transfer_not_found"
        if not pending.flags & _PENDING:
            return "pending_transfer_not_pending"
        problem = _pending_mismatch(t, pending)
        if problem:
            return problem
        if pending.status == TransferStatus.POSTED_PENDING:
            return "pending_transfer_already_posted"
        if pending.status == TransferStatus.VOIDED_PENDING:
            return "pending_transfer_already_voided"
        if pending.status == TransferStatus.EXPIRED_PENDING:
            return "pending_transfer_expired"
        is_post = bool(t.flags & _POST)
        amount = pending.amount if t.amount is None else t.amount
        if amount > pending.amount:
            return "exceeds_pending_transfer_amount"
        debit = self.accounts.get(pending.debit_account_id)
        credit = self.accounts.get(pending.credit_account_id)
        if debit is None or credit is None:
            return "debit_account_not_found" if debit is None else "credit_account_not_found"
        # No status check: a live hold was taken before any freeze (a frozen account takes
        # no new hold), and its money is committed to an operation (a payout the bank may
        # already have paid). Posting or voiding it records that outcome; a closed account
        # has no live holds.
        self._release(
            pending, TransferStatus.POSTED_PENDING if is_post else TransferStatus.VOIDED_PENDING
        )
        if is_post:
            self._move(debit, credit, amount, pending=False, sign=1)
        status = TransferStatus.POSTED if is_post else TransferStatus.VOIDED
        code = t.code or pending.code
        created = self._create(t, debit.id, credit.id, amount, pending.currency, code, None, status)
        self._entries(created, "posted" if is_post else "voided", debit, credit, amount)
        return "created"

    # -- expiry -------------------------------------------------------------------------

    def expire_due(self) -> list[str]:
        """Expire every loaded hold whose timeout has run out; returns their ids."""
        expired = []
        for pending in list(self.transfers.values()):
            if (
                pending.status == TransferStatus.PENDING
                and pending.expires_at is not None
                and pending.expires_at <= self.now
            ):
                debit = self.accounts.get(pending.debit_account_id)
                credit = self.accounts.get(pending.credit_account_id)
                if debit is None or credit is None:
                    continue  # not locked in this batch; a later sweep expires it
                self._release(pending, TransferStatus.EXPIRED_PENDING)
                self._entries(pending, "expired", debit, credit, pending.amount)
                expired.append(pending.id)
        return expired

    # -- balance mutations ----------------------------------------------------------

    def _release(self, pending: Transfer, status: TransferStatus) -> None:
        debit = self.accounts[pending.debit_account_id]
        credit = self.accounts[pending.credit_account_id]
        self._move(debit, credit, pending.amount, pending=True, sign=-1)
        self._remember(pending, "status")
        pending.status = status
        self.dirty_transfers.add(pending.id)

    def _move(
        self, debit: AccountState, credit: AccountState, amount: int, *, pending: bool, sign: int
    ) -> None:
        if self._in_chain:
            self._remember(debit, "debits_pending", "debits_posted")
            self._remember(credit, "credits_pending", "credits_posted")
        if pending:
            debit.debits_pending += sign * amount
            credit.credits_pending += sign * amount
        else:
            debit.debits_posted += sign * amount
            credit.credits_posted += sign * amount
        self.dirty_accounts.add(debit.id)
        self.dirty_accounts.add(credit.id)

    def _create(
        self,
        t: TransferRequest,
        debit_id: str,
        credit_id: str,
        amount: int,
        currency: str,
        code: int,
        expires_at: datetime | None,
        status: TransferStatus,
    ) -> Transfer:
        transfer = Transfer(
            id=t.id,
            debit_account_id=debit_id,
            credit_account_id=credit_id,
            amount=amount,
            currency=currency,
            flags=t.flags,
            pending_id=t.pending_id,
            timeout_s=t.timeout_s,
            code=code,
            metadata=dict(t.metadata) if t.metadata else {},
            created_at=self.now,
            expires_at=expires_at,
            status=status,
        )
        self.transfers[t.id] = transfer
        self.created.append(transfer)
        return transfer

    def _entries(
        self, transfer: Transfer, event: str, debit: AccountState, credit: AccountState, amount: int
    ) -> None:
        # Spelled out rather than looped: this runs twice per transfer of every group.
        now = self.now
        self.entries += (
            Entry(
                debit.id,
                transfer.id,
                event,
                "debit",
                amount,
                debit.debits_pending,
                debit.debits_posted,
                debit.credits_pending,
                debit.credits_posted,
                now,
            ),
            Entry(
                credit.id,
                transfer.id,
                event,
                "credit",
                amount,
                credit.debits_pending,
                credit.debits_posted,
                credit.credits_pending,
                credit.credits_posted,
                now,
            ),
        )


def _pending_mismatch(t: TransferRequest, pending: Transfer) -> str | None:
    if t.debit_account_id is not None and t.debit_account_id != pending.debit_account_id:
        return "pending_transfer_has_different_debit_account_id"
    if t.credit_account_id is not None and t.credit_account_id != pending.credit_account_id:
        return "pending_transfer_has_different_credit_account_id"
    if t.currency is not None and t.currency != pending.currency:
        return "pending_transfer_has_different_currency"
    void = t.flags & _VOID
    if void and t.amount is not None and t.amount != pending.amount:
        return "pending_transfer_has_different_amount"
    return None


def _limits_result(
    debit: AccountState, credit: AccountState, amount: int, *, pending: bool
) -> str | None:
    top = limits.AMOUNT_MAX
    if pending and debit.debits_pending + amount > top:
        return "overflows_debits_pending"
    if pending and credit.credits_pending + amount > top:
        return "overflows_credits_pending"
    if not pending and debit.debits_posted + amount > top:
        return "overflows_debits_posted"
    if not pending and credit.credits_posted + amount > top:
        return "overflows_credits_posted"
    if debit.debits_pending + debit.debits_posted + amount > top:
        return "overflows_debits"
    if credit.credits_pending + credit.credits_posted + amount > top:
        return "overflows_credits"
    if (
        debit.flags & DEBITS_LIMITED
        and debit.debits_pending + debit.debits_posted + amount > debit.credits_posted
    ):
        return "exceeds_credits"
    if (
        credit.flags & CREDITS_LIMITED
        and credit.credits_pending + credit.credits_posted + amount > credit.debits_posted
    ):
        return "exceeds_debits"
    return None
