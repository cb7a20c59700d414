"""Ledger use cases: create accounts and transfers, read balances and history, self-check."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from paycore import ids, limits
from paycore.clock import Clock, SystemClock
from paycore.errors import InvariantViolation, Rejected
from paycore.ledger import store, store_writer
from paycore.ledger.group_commit import GroupCommitter, Job, LockOrderRetry
from paycore.ledger.model import (
    Account,
    AccountFlags,
    AccountOrigin,
    AccountStatus,
    Caller,
    Entry,
    Transfer,
    TransferRequest,
    TransferResult,
    check_account_flags,
    is_reserved_id,
    metadata_too_large,
    status_change_refusal,
)
from paycore.ledger.posting import Posting
from paycore.money import is_known_currency
from paycore.platform.db import WRITER
from paycore.text import is_ascii_digits


@dataclass(frozen=True, slots=True)
class AccountRequest:
    currency: str
    id: str | None = None
    code: int = 0
    owner_id: str | None = None
    flags: AccountFlags = AccountFlags.NONE
    metadata: Mapping[str, Any] = field(default_factory=dict)
    origin: AccountOrigin = AccountOrigin.FLOW
    """A flow's unless the ledger's API opens it (see AccountOrigin)."""


@dataclass(frozen=True, slots=True)
class AccountPage:
    accounts: list[Account]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class EntryPage:
    entries: list[Entry]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    """One chart-of-accounts code in one currency: its accounts' summed balances."""

    currency: str
    code: int
    accounts: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def balance(self) -> int:
        """Posted debits minus posted credits: positive is a debit balance."""
        return self.debits_posted - self.credits_posted


@dataclass(frozen=True, slots=True)
class CheckReport:
    accounts_checked: int
    problems: list[str]
    totals: dict[str, tuple[int, int, int, int]]  # currency -> summed balances

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_metadata(metadata: Mapping[str, Any]) -> None:
    if metadata_too_large(metadata):
        raise Rejected("metadata_too_large", f"metadata is over {limits.METADATA_BYTES_MAX} bytes")


class Ledger:
    """The in-process ledger. Thread-safe; one per process and database."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._writer = GroupCommitter(engine, self._apply_group)

    def close(self) -> None:
        self._writer.close()

    # -- accounts -----------------------------------------------------------------------

    def create_account(self, request: AccountRequest) -> tuple[Account, bool]:
        """Create an account; returns (account, created). Same id + same fields is a no-op."""
        [(account, created)] = self.create_accounts([request])
        return account, created

    def create_accounts(
        self, requests: Sequence[AccountRequest], *, caller: Caller | None = None
    ) -> list[tuple[Account, bool]]:
        """Create accounts in one transaction: all are created (or already exist) or none.
        A `caller` of the API opens API accounts, a merchant only its own, never under a
        flow's id."""
        if len(requests) > limits.ACCOUNT_BATCH_MAX:
            raise Rejected("batch_too_large", f"at most {limits.ACCOUNT_BATCH_MAX} accounts")
        if caller is not None:
            requests = [_as_api_account(r, caller) for r in requests]
        wanted = [self._new_account(r) for r in requests]
        try:
            return self._insert_accounts(wanted)
        except IntegrityError:
            # Another process created one of these ids meanwhile; now it is found and compared.
            return self._insert_accounts(wanted)

    def _insert_accounts(self, wanted: Sequence[Account]) -> list[tuple[Account, bool]]:
        outcome: list[tuple[Account, bool]] = []
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            existing = store.get_accounts(conn, [a.id for a in wanted])
            fresh: dict[str, Account] = {}
            for account in wanted:
                found = existing.get(account.id) or fresh.get(account.id)
                if found is not None:
                    _check_same_account(account, found)
                    outcome.append((found, False))
                else:
                    fresh[account.id] = account
                    outcome.append((account, True))
            store.insert_accounts(conn, list(fresh.values()))
        return outcome

    def _new_account(self, request: AccountRequest) -> Account:
        if not is_known_currency(request.currency):
            raise Rejected("unknown_currency", f"{request.currency!r} is not ISO 4217")
        problem = check_account_flags(request.flags)
        if problem:
            raise Rejected(problem, "an account can limit debits or credits, not both")
        if request.id is not None and not 0 < len(request.id) <= limits.ID_LENGTH_MAX:
            raise Rejected("id_invalid", f"ids are 1 to {limits.ID_LENGTH_MAX} characters")
        if not 0 <= request.code <= limits.CODE_MAX:
            raise Rejected("code_must_not_exceed_max", f"code is 0 to {limits.CODE_MAX}")
        validate_metadata(request.metadata)
        return Account(
            id=request.id or ids.new_id("acct"),
            currency=request.currency,
            code=request.code,
            flags=int(request.flags),
            status=AccountStatus.ACTIVE,
            owner_id=request.owner_id,
            origin=request.origin,
            metadata=dict(request.metadata),
            created_at=self._clock.now(),
        )

    def set_account_status(
        self, account_id: str, status: AccountStatus, *, caller: Caller | None = None
    ) -> Account:
        """Freeze, unfreeze or close an account; a closed account stays closed. A `caller`
        of the API may do only what `status_change_refusal` allows."""
        self._expire_due_holds_of({account_id})  # an expired hold must not block closing
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            account = store_writer.lock_accounts(conn, [account_id]).get(account_id)
            if account is None or (caller is not None and not caller.sees(account.owner_id)):
                raise Rejected("account_not_found", f"no account {account_id}")
            if caller is not None and (refusal := status_change_refusal(caller, account, status)):
                raise Rejected(*refusal)
            if account.status == AccountStatus.CLOSED:
                raise Rejected("account_closed", "a closed account stays closed")
            if status == AccountStatus.CLOSED and (
                account.debits_pending or account.credits_pending
            ):
                raise Rejected("account_has_pending_transfers", "post or void its holds first")
            store.set_account_status(conn, account_id, status)
            updated = store.get_account(conn, account_id)
        if updated is None:  # pragma: no cover - locked above, and accounts are never deleted
            raise InvariantViolation(f"account {account_id} vanished while locked")
        return updated

    def get_account(self, account_id: str) -> Account | None:
        self._expire_due_holds_of({account_id})
        with self._engine.connect() as conn:
            return store.get_account(conn, account_id)

    def existing_accounts(self, account_ids: Sequence[str]) -> set[str]:
        """Which of these accounts exist: one read per thousand ids, for callers checking
        many at once (a reward batch's recipients)."""
        found: set[str] = set()
        with self._engine.connect() as conn:
            for start in range(0, len(account_ids), 1000):
                found |= store.get_accounts(conn, account_ids[start : start + 1000]).keys()
        return found

    def accounts_in_debit(
        self, code: int, *, limit: int = limits.ACCOUNTS_PAGE_MAX, after: str | None = None
    ) -> list[Account]:
        """Accounts of `code` whose posted debits exceed their posted credits (e.g. users who
        owe money), in id order; `after` is the last id of the previous page."""
        with self._engine.connect() as conn:
            return store.accounts_in_debit(conn, code=code, after_id=after, limit=limit)

    def list_accounts(
        self,
        *,
        owner_id: str | None = None,
        limit: int = limits.ACCOUNTS_PAGE_DEFAULT,
        after: str | None = None,
    ) -> AccountPage:
        """Accounts in id order, optionally of one owner; `after` is the previous page's cursor."""
        if not 0 < limit <= limits.ACCOUNTS_PAGE_MAX:
            raise Rejected("limit_out_of_range", f"limit is 1 to {limits.ACCOUNTS_PAGE_MAX}")
        with self._engine.connect() as conn:
            found = store.list_accounts(conn, owner_id=owner_id, after_id=after, limit=limit)
        next_cursor = found[-1].id if len(found) == limit else None
        return AccountPage(accounts=found, next_cursor=next_cursor)

    # -- transfers ----------------------------------------------------------------------

    def submit_transfers(
        self,
        batch: Sequence[TransferRequest],
        *,
        caller: Caller | None = None,
        then: Callable[[Connection, list[str]], None] | None = None,
    ) -> Future[list[str]]:
        """Queue a batch for the writer; the future resolves after commit. A `caller` of
        the API reaches only its accounts and holds (others answer as missing ones) and
        creates no transfer under a flow's id. `then` (a flow's, see `Job.then`) writes in
        the same transaction, after the batch."""
        if len(batch) > limits.TRANSFER_BATCH_MAX:
            raise Rejected("batch_too_large", f"at most {limits.TRANSFER_BATCH_MAX} transfers")
        for t in batch:
            if t.metadata:
                validate_metadata(t.metadata)
            if caller is not None and is_reserved_id(t.id):
                raise Rejected("id_reserved", f"{t.id} lies in a namespace of paycore's flows")
            if caller is not None and t.bank_confirmed:
                raise Rejected("bank_confirmed_reserved", "only paycore's flows record bank money")
        return self._writer.submit(Job(transfers=list(batch), caller=caller, then=then))

    def create_transfers(
        self, batch: Sequence[TransferRequest], *, caller: Caller | None = None
    ) -> list[TransferResult]:
        results = self.submit_transfers(batch, caller=caller).result()
        return [TransferResult(t.id, r) for t, r in zip(batch, results, strict=True)]

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        with self._engine.connect() as conn:
            transfer = store.get_transfer(conn, transfer_id)
        if transfer is not None and _is_due(transfer, self._clock.now()):
            self._expire_due_holds_of({transfer.debit_account_id, transfer.credit_account_id})
            with self._engine.connect() as conn:
                transfer = store.get_transfer(conn, transfer_id)
        return transfer

    # -- expiry ---------------------------------------------------------------------------

    def expire_due_holds(self) -> int:
        """One sweep of the expiry worker; returns how many accounts it touched."""
        with self._engine.connect() as conn:
            account_ids = store.due_hold_accounts(conn, self._clock.now(), limits.EXPIRE_SWEEP_MAX)
        if account_ids:
            self._writer.submit(Job(touch_account_ids=frozenset(account_ids))).result()
        return len(account_ids)

    def _expire_due_holds_of(self, account_ids: set[str]) -> None:
        with self._engine.connect() as conn:
            due = store.has_due_holds(conn, account_ids, self._clock.now())
        if due:
            self._writer.submit(Job(touch_account_ids=frozenset(account_ids))).result()

    # -- the writer's unit of work ------------------------------------------------------

    def _apply_group(self, conn: Connection, group: Sequence[Job]) -> list[list[str]]:
        """Runs on the writer thread inside one transaction: lock, apply in memory, write."""
        now = self._clock.now()
        transfer_ids: set[str] = set()
        pending_ids: set[str] = set()
        unnamed_holds: set[str] = set()  # posted or voided without naming their accounts
        account_ids: set[str] = set()
        for job in group:
            account_ids |= job.touch_account_ids | job.lock_hint
            for t in job.transfers:
                transfer_ids.add(t.id)
                if t.pending_id:
                    pending_ids.add(t.pending_id)
                    # A caller's hold needs its own accounts, whatever it names, to be judged.
                    if job.caller or not (t.debit_account_id and t.credit_account_id):
                        unnamed_holds.add(t.pending_id)
                for account_id in (t.debit_account_id, t.credit_account_id):
                    if account_id:
                        account_ids.add(account_id)
        # All locks are taken in ascending id order, by every writer in every process, so
        # writers never deadlock. A hold's accounts never change, so they can be read first.
        account_ids |= store_writer.accounts_of(conn, unnamed_holds)
        accounts, loaded, failed = store_writer.lock_and_load(
            conn, account_ids=account_ids, transfer_ids=transfer_ids | pending_ids, now=now
        )
        # Holds due to expire on these accounts may involve an account not locked yet.
        holds = [t for t in loaded.values() if t.id in pending_ids or t.id not in transfer_ids]
        missing = {i for h in holds for i in (h.debit_account_id, h.credit_account_id)}
        missing -= accounts.keys()
        if missing:
            if accounts and min(missing) < max(accounts):
                for job in group:
                    job.lock_hint |= missing
                raise LockOrderRetry("holds need accounts that sort before ones already locked")
            accounts.update(store_writer.lock_accounts(conn, missing))
            # Re-read: those holds may have changed before their accounts were locked.
            stale = [h.id for h in holds if {h.debit_account_id, h.credit_account_id} & missing]
            loaded.update(store_writer.load_transfers(conn, stale))
        posting = Posting(accounts=accounts, transfers=loaded, failed=failed, now=now)
        posting.expire_due()
        results = [posting.apply(job.transfers, job.caller) for job in group]
        store_writer.write_posting(conn, posting)
        for job, result in zip(group, results, strict=True):
            if job.then is not None:
                job.then(conn, result)
        return results

    # -- history -------------------------------------------------------------------------

    def entries(
        self,
        account_id: str,
        *,
        limit: int = limits.ENTRIES_PAGE_DEFAULT,
        after: str | None = None,
        newest_first: bool = True,
    ) -> EntryPage:
        if not 0 < limit <= limits.ENTRIES_PAGE_MAX:
            raise Rejected("limit_out_of_range", f"limit is 1 to {limits.ENTRIES_PAGE_MAX}")
        after_seq = _parse_cursor(after)
        with self._engine.connect() as conn:
            if store.get_account(conn, account_id) is None:
                raise Rejected("account_not_found", account_id)
            rows = store.list_entries(
                conn, account_id, limit=limit, after_seq=after_seq, newest_first=newest_first
            )
        next_cursor = str(rows[-1][0]) if len(rows) == limit else None
        return EntryPage(entries=[e for _, e in rows], next_cursor=next_cursor)

    def balance_at(self, account_id: str, at: datetime) -> tuple[int, int, int, int]:
        """(debits_pending, debits_posted, credits_pending, credits_posted) as of `at`."""
        with self._engine.connect() as conn:
            if store.get_account(conn, account_id) is None:
                raise Rejected("account_not_found", account_id)
            entry = store.last_entry_at(conn, account_id, at)
        if entry is None:
            return (0, 0, 0, 0)
        return (
            entry.debits_pending,
            entry.debits_posted,
            entry.credits_pending,
            entry.credits_posted,
        )

    # -- self-check --------------------------------------------------------------------------

    def trial_balance(self) -> list[TrialBalanceRow]:
        """Summed balances per currency and code, from one snapshot: in every currency the
        debit balances equal the credit balances, as double entry demands."""
        options = {"isolation_level": "REPEATABLE READ"} if _is_postgres(self._engine) else {}
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            rows = store.trial_balance(conn)
        return [TrialBalanceRow(*row) for row in rows]

    def check(self) -> CheckReport:
        """Recompute every balance from the journal and prove debits equal credits per currency."""
        # One snapshot for all the sums, or concurrent commits would show false mismatches.
        options = {"isolation_level": "REPEATABLE READ"} if _is_postgres(self._engine) else {}
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            sums = store.journal_sums(conn)
        problems: list[str] = []
        totals: dict[str, list[int]] = {}
        zero = (0, 0, 0, 0)
        for account_id, (currency, stored) in sorted(sums.stored.items()):
            recomputed = sums.recomputed.get(account_id, zero)
            if stored != recomputed:
                problems.append(f"{account_id}: stored {stored} != journal {recomputed}")
            last = sums.last_entry.get(account_id, zero)
            if stored != last:
                problems.append(f"{account_id}: stored {stored} != last entry {last}")
            total = totals.setdefault(currency, [0, 0, 0, 0])
            for i, value in enumerate(stored):
                total[i] += value
        for account_id in sorted(sums.recomputed.keys() - sums.stored.keys()):
            problems.append(f"{account_id}: transfers reference an account that does not exist")
        for currency, (dp, dpo, cp, cpo) in sorted(totals.items()):
            if dp != cp:
                problems.append(f"{currency}: debits_pending {dp} != credits_pending {cp}")
            if dpo != cpo:
                problems.append(f"{currency}: debits_posted {dpo} != credits_posted {cpo}")
        return CheckReport(
            accounts_checked=len(sums.stored),
            problems=problems,
            totals={c: (t[0], t[1], t[2], t[3]) for c, t in totals.items()},
        )


def run_expiry_worker(ledger: Ledger, *, interval_s: float, stop: threading.Event) -> None:
    """Expire due holds every `interval_s` until `stop` is set (reads also expire lazily)."""
    while not stop.wait(interval_s):
        while ledger.expire_due_holds():
            if stop.is_set():
                return


def _is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _is_due(transfer: Transfer, now: datetime) -> bool:
    return (
        transfer.status == "pending"
        and transfer.expires_at is not None
        and transfer.expires_at <= now
    )


def _parse_cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not is_ascii_digits(after) or len(after) > 19:
        raise Rejected("cursor_invalid", "use the next_cursor of the previous page")
    return int(after)


def _as_api_account(request: AccountRequest, caller: Caller) -> AccountRequest:
    """What a caller of the API may open: an API account, a merchant's own."""
    owner_id = request.owner_id
    if caller.merchant_id is not None:
        owner_id = owner_id or caller.merchant_id
        if owner_id != caller.merchant_id:
            raise Rejected("forbidden", "a merchant key opens accounts only for its merchant")
    if request.id is not None and is_reserved_id(request.id):
        raise Rejected("id_reserved", f"{request.id} lies in a namespace of paycore's flows")
    return replace(request, owner_id=owner_id, origin=AccountOrigin.API)


def _check_same_account(new: Account, existing: Account) -> None:
    for name in ("currency", "code", "owner_id", "origin", "flags"):
        if getattr(new, name) != getattr(existing, name):
            raise Rejected(f"exists_with_different_{name}", f"account {existing.id} exists")
    if dict(new.metadata) != dict(existing.metadata):
        raise Rejected("exists_with_different_metadata", f"account {existing.id} exists")
