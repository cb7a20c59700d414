"""The real Ledger, driven by random steps, agrees with a small in-memory reference model.

Hypothesis drives a fresh ledger per example: accounts in two currencies with random
limit flags, batches of transfers (linked chains, holds with timeouts, full and partial
posts, voids, balancing transfers, malformed requests, replays of old ids with the same
or a changed body) and a manual clock that moves to expire holds. `ReferenceLedger`
re-states the transfer rules from scratch, without `Posting`, and predicts every result
code and every balance.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, select, text

from paycore import limits
from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.ledger import store
from paycore.ledger.model import (
    RESULTS,
    AccountFlags,
    AccountStatus,
    TransferFlags,
    TransferRequest,
)
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import make_engine
from tests.conftest import ON_POSTGRES, POSTGRES_URL

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


def status_problem(debit: RefAccount, credit: RefAccount) -> str | None:
    for status in ("frozen", "closed"):
        if status in (debit.status, credit.status):
            return f"account_{status}"
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
        if status_problem(debit, credit):
            return status_problem(debit, credit) or ""
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
        debit, credit = self.accounts[hold.debit], self.accounts[hold.credit]
        if is_post and status_problem(debit, credit):  # a void only releases, so it may
            return status_problem(debit, credit) or ""
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


# -- a fresh database per example ---------------------------------------------------------


class Databases:
    """An empty, migrated database per example, as conftest's `database_url` gives per test."""

    def __init__(self, template: str, directory: Path) -> None:
        self._template = template
        self._directory = directory
        self._count = 0
        self._postgres = make_engine(POSTGRES_URL, pool_size=2) if ON_POSTGRES else None

    def fresh(self) -> Engine:
        if self._postgres is not None:
            with self._postgres.begin() as conn:
                names = ", ".join(t.name for t in store.metadata.sorted_tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
            return self._postgres
        self._count += 1
        path = self._directory / f"example_{self._count}.db"
        shutil.copyfile(self._template, path)
        return make_engine(f"sqlite:///{path}")

    def release(self, engine: Engine) -> None:
        if engine is self._postgres:
            return
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{engine.url.database}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.dispose()


# -- the state machine ----------------------------------------------------------------------

TRANSFER_KINDS = (
    ("single",) * 6 + ("hold",) * 4 + ("post",) * 3 + ("void", "replay", "changed", "bad")
)
ODD_NEW = (
    "missing_debit",
    "any_credit",
    "missing_credit",
    "other_currency",
    "EUR",
    "balancing",
    "balancing",
    "balancing",
)
ODD_RESOLVE = ("debit", "credit", "currency", "more")
CHANGES = (
    "amount",
    "code",
    "metadata",
    "timeout_s",
    "debit",
    "credit",
    "currency",
    "flags",
    "pending_id",
)
MALFORMED = (
    "empty_id",
    "long_id",
    "pending_and_post",
    "post_and_balancing",
    "post_without_pending_id",
    "pending_id_on_single",
    "pending_id_is_own_id",
    "timeout_without_pending",
    "code_too_big",
    "amount_too_big",
    "no_currency",
    "no_amount",
    "zero_amount",
    "unknown_currency",
)


class LedgerMachine(RuleBasedStateMachine):
    databases: ClassVar[Databases]

    def __init__(self) -> None:
        super().__init__()
        self.engine = self.databases.fresh()
        self.clock = ManualClock()
        self.ledger = Ledger(self.engine, clock=self.clock)
        self.model = ReferenceLedger()
        self.batches: list[list[TransferRequest]] = []
        self.sent: list[TransferRequest] = []
        self.transfer_count = 0

    def teardown(self) -> None:
        try:
            report = self.ledger.check()
            assert report.ok, report.problems
            for transfer_id, ref in self.model.transfers.items():
                stored = self.ledger.get_transfer(transfer_id)
                assert stored is not None, transfer_id
                got = (
                    stored.status.value,
                    stored.amount,
                    stored.debit_account_id,
                    stored.credit_account_id,
                    stored.currency,
                    stored.code,
                )
                want = (ref.status, ref.amount, ref.debit, ref.credit, ref.currency, ref.code)
                assert got == want, (transfer_id, got, want)
        finally:
            self.ledger.close()
            self.databases.release(self.engine)

    # -- accounts --

    @initialize(flags=st.lists(st.sampled_from(ACCOUNT_FLAGS), min_size=2, max_size=2))
    def open_two_plain_accounts_and_one_random_one_per_currency(
        self, flags: list[AccountFlags]
    ) -> None:
        for account_flags in [AccountFlags.NONE] * 4 + flags:
            self.open_account(CURRENCIES[len(self.model.accounts) % 2], account_flags)

    def open_account(self, currency: str, flags: AccountFlags) -> None:
        account_id = f"acct_{len(self.model.accounts)}"
        request = AccountRequest(currency=currency, id=account_id, flags=flags)
        account, created = self.ledger.create_account(request)
        assert created and account.balances() == (0, 0, 0, 0)
        self.model.accounts[account_id] = RefAccount(currency, flags)

    @rule(data=st.data())
    def open_a_new_account_or_reopen_one_with_the_same_or_a_different_body(
        self, data: st.DataObject
    ) -> None:
        change = data.draw(st.sampled_from(["new", "new", "same", "currency", "flags", "both"]))
        if change == "new" and len(self.model.accounts) < ACCOUNTS_MAX:
            flags = data.draw(st.sampled_from(ACCOUNT_FLAGS))
            self.open_account(data.draw(st.sampled_from(CURRENCIES)), flags)
            return
        account_id = data.draw(st.sampled_from(sorted(self.model.accounts)))
        ref = self.model.accounts[account_id]
        currency, flags, expected = ref.currency, ref.flags, ""
        if change == "currency":
            currency, expected = "EUR", "exists_with_different_currency"
        elif change == "flags":
            flags = data.draw(st.sampled_from([f for f in ACCOUNT_FLAGS if f != ref.flags]))
            expected = "exists_with_different_flags"
        elif change == "both":
            flags, expected = DR_LIMIT | CR_LIMIT, "flags_are_mutually_exclusive"
        request = AccountRequest(currency=currency, id=account_id, flags=flags)
        if not expected:
            account, created = self.ledger.create_account(request)
            assert not created and (account.currency, account.flags) == (currency, flags)
            return
        with pytest.raises(Rejected) as rejected:
            self.ledger.create_account(request)
        assert rejected.value.code == expected

    # -- transfers --

    @rule(data=st.data())
    def freeze_unfreeze_or_close_an_account(self, data: st.DataObject) -> None:
        account_id = data.draw(st.sampled_from(sorted(self.model.accounts)))
        self.set_status(account_id, data.draw(st.sampled_from(["frozen", "active", "closed"])))

    @precondition(lambda self: self.accounts_whose_holds_all_expired())
    @rule(data=st.data())
    def close_an_account_whose_holds_all_expired(self, data: st.DataObject) -> None:
        """Allowed once the holds' timeouts ran out, whether or not the store expired them yet."""
        account_id = data.draw(st.sampled_from(self.accounts_whose_holds_all_expired()))
        self.set_status(account_id, "closed")

    def accounts_whose_holds_all_expired(self) -> list[str]:
        self.model.expire()
        expired = {
            account_id
            for t in self.model.transfers.values()
            if t.status == "pending_expired"
            for account_id in (t.debit, t.credit)
        }
        return sorted(
            account_id
            for account_id in expired
            if self.model.accounts[account_id].status != "closed"
            and not self.model.accounts[account_id].dr_pending
            and not self.model.accounts[account_id].cr_pending
        )

    def set_status(self, account_id: str, status: str) -> None:
        self.model.expire()
        ref = self.model.accounts[account_id]
        expected = ""
        if ref.status == "closed":
            expected = "account_closed"
        elif status == "closed" and (ref.dr_pending or ref.cr_pending):
            expected = "account_has_pending_transfers"
        if not expected:
            account = self.ledger.set_account_status(account_id, AccountStatus(status))
            assert account.status == status
            ref.status = status
            return
        with pytest.raises(Rejected) as rejected:
            self.ledger.set_account_status(account_id, AccountStatus(status))
        assert rejected.value.code == expected

    @rule(data=st.data())
    def submit_a_batch_of_chains(self, data: st.DataObject) -> None:
        batch: list[TransferRequest] = []
        lengths = st.lists(st.sampled_from([1, 1, 1, 2, 2, 3]), min_size=1, max_size=4)
        for length in data.draw(lengths):
            for position in range(length):
                batch.append(self.draw_transfer(data, batch, linked=position < length - 1))
        if data.draw(st.integers(0, 9)) == 0:  # leave the last chain open
            batch[-1] = replace(batch[-1], flags=batch[-1].flags | LINKED)
        self.submit(batch)

    @rule(data=st.data())
    def submit_one_transfer(self, data: st.DataObject) -> None:
        self.submit([self.draw_transfer(data, [], linked=False)])

    @precondition(lambda self: any(t.status == "pending" for t in self.model.transfers.values()))
    @rule(data=st.data())
    def post_or_void_a_hold(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(["post", "void"]))
        self.submit([self.draw_resolve(data, self.new_id(), kind)])

    @rule(data=st.data())
    def move_an_amount_near_the_64_bit_limit(self, data: st.DataObject) -> None:
        currency = data.draw(st.sampled_from(CURRENCIES))
        plain = [
            account_id
            for account_id, ref in self.model.accounts.items()
            if ref.currency == currency and ref.flags == AccountFlags.NONE
        ]
        debit, credit = data.draw(st.permutations(plain))[:2]
        t = TransferRequest(
            id=self.new_id(),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=limits.AMOUNT_MAX - data.draw(st.integers(0, 9)),
            currency=currency,
            flags=data.draw(st.sampled_from([NONE, PENDING])),
        )
        self.submit([t])

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def replay_an_old_batch(self, data: st.DataObject) -> None:
        self.submit(list(data.draw(st.sampled_from(self.batches))))

    @rule(seconds=st.integers(0, 12))
    def advance_the_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.model.now_s += seconds

    def submit(self, batch: list[TransferRequest]) -> None:
        expected = self.model.apply(batch)
        got = [r.result for r in self.ledger.create_transfers(batch)]
        assert set(got) <= set(RESULTS), got
        assert [r == "created" for r in got] == [r == "created" for r in expected], (
            batch,
            got,
            expected,
        )
        assert got == expected, (batch, got, expected)
        for result in got:
            event(result)
        self.batches.append(batch)
        self.sent.extend(batch)

    @rule()
    def read_every_balance_through_the_api(self) -> None:
        """`get_account` first expires the account's due holds, so it matches the model exactly."""
        self.model.expire()
        for account_id, ref in self.model.accounts.items():
            account = self.ledger.get_account(account_id)
            assert account is not None and account.balances() == ref.balances(), (account, ref)

    @rule()
    def run_the_expiry_sweep(self) -> None:
        while self.ledger.expire_due_holds():
            pass
        _, due = self.read_stored_rows()
        assert not due, due

    @invariant()
    def balances_match_the_model_and_debits_equal_credits(self) -> None:
        """Stored rows, read without the lazy expiry that `get_account` does.

        Only transfer batches and the two rules above expire holds, so a hold whose
        timeout ran out may still be pending in the store; it counts as expired here.
        """
        self.model.expire()
        stored, due = self.read_stored_rows()
        totals: dict[str, list[int]] = {}
        for currency, balances in stored.values():
            total = totals.setdefault(currency, [0, 0, 0, 0])
            for i, value in enumerate(balances):
                total[i] += value
        for currency, (dr_pending, dr_posted, cr_pending, cr_posted) in totals.items():
            assert dr_pending == cr_pending, (currency, totals)
            assert dr_posted == cr_posted, (currency, totals)
        for debit_id, credit_id, amount in due:
            stored[debit_id][1][0] -= amount
            stored[credit_id][1][2] -= amount
        assert stored.keys() == self.model.accounts.keys()
        for account_id, ref in self.model.accounts.items():
            assert tuple(stored[account_id][1]) == ref.balances(), (account_id, stored, ref)

    def read_stored_rows(
        self,
    ) -> tuple[dict[str, tuple[str, list[int]]], list[tuple[str, str, int]]]:
        """Every account's stored balances, and the holds that are due but still pending."""
        a, t = store.accounts.c, store.transfers.c
        now = self.clock.now()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    a.id,
                    a.currency,
                    a.debits_pending,
                    a.debits_posted,
                    a.credits_pending,
                    a.credits_posted,
                )
            ).all()
            holds = conn.execute(
                select(t.debit_account_id, t.credit_account_id, t.amount, t.expires_at).where(
                    t.status == "pending", t.expires_at.is_not(None)
                )
            ).all()
        stored = {row[0]: (row[1], list(row[2:])) for row in rows}
        due = [(h[0], h[1], h[2]) for h in holds if h[3] <= now]
        return stored, due

    # -- drawing transfers --

    def new_id(self) -> str:
        self.transfer_count += 1
        return f"tr_{self.transfer_count}"

    def draw_id(self, data: st.DataObject, batch: list[TransferRequest]) -> str:
        used = [t.id for t in self.sent + batch if t.id]
        if used and data.draw(st.integers(0, 11)) == 0:
            return data.draw(st.sampled_from(used))
        return self.new_id()

    def draw_transfer(
        self, data: st.DataObject, batch: list[TransferRequest], *, linked: bool
    ) -> TransferRequest:
        kind = data.draw(st.sampled_from(TRANSFER_KINDS))
        earlier = self.sent + batch
        if kind == "replay" and earlier:
            return data.draw(st.sampled_from(earlier))  # exactly as sent, flags too
        if kind == "changed" and earlier:
            return self.draw_change(data, data.draw(st.sampled_from(earlier)))
        transfer_id = self.draw_id(data, batch)
        if kind in ("post", "void"):
            t = self.draw_resolve(data, transfer_id, kind)
        else:
            t = self.draw_new(data, transfer_id, hold=kind == "hold")
            if kind == "bad":
                t = self.draw_malformed(data, t)
        return replace(t, flags=t.flags | LINKED) if linked else t

    def draw_new(self, data: st.DataObject, transfer_id: str, *, hold: bool) -> TransferRequest:
        """Mostly transfers that can succeed: two accounts of one currency, small amounts."""
        accounts = sorted(self.model.accounts)
        debit = data.draw(st.sampled_from(accounts))
        home = self.model.accounts[debit].currency
        same = [a for a in accounts if self.model.accounts[a].currency == home and a != debit]
        credit = data.draw(st.sampled_from(same))
        currency, amount, flags = home, data.draw(st.integers(1, 40)), PENDING if hold else NONE
        odd = data.draw(st.sampled_from([None] * 12 + list(ODD_NEW)))
        if odd == "missing_debit":
            debit = "acct_missing"
        elif odd in ("any_credit", "missing_credit"):
            credit = data.draw(st.sampled_from(accounts)) if odd == "any_credit" else "acct_missing"
        elif odd in ("other_currency", "EUR"):
            currency = "EUR" if odd == "EUR" else ("USD" if home == "CNY" else "CNY")
        elif odd == "balancing":
            flags |= data.draw(st.sampled_from([BALANCING_DR, BALANCING_CR]))
            amount = data.draw(st.integers(1, 100))
        timeouts = [0, 0, 1, 2, 3, 5, 8, 10, TIMEOUT_TOO_LONG_S] if hold else [0]
        return TransferRequest(
            id=transfer_id,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            currency=currency,
            flags=flags,
            timeout_s=data.draw(st.sampled_from(timeouts)),
            code=data.draw(st.sampled_from([0, 0, 1, 2])),
            metadata=data.draw(st.sampled_from([None, None, {"n": 1}])),
        )

    def draw_resolve(self, data: st.DataObject, transfer_id: str, kind: str) -> TransferRequest:
        """Mostly a post or void that can succeed; sometimes one field that cannot."""
        holds = [i for i, t in self.model.transfers.items() if t.status == "pending"]
        others = [*self.model.transfers, "tr_missing"]
        pending_id = data.draw(st.sampled_from(holds * 4 + others))
        hold = self.model.transfers.get(pending_id)
        full = hold.amount if hold else 10
        amounts = [None, full] if kind == "void" else [None, None, full, max(full // 2, 1), 1]
        t = TransferRequest(
            id=transfer_id,
            pending_id=pending_id,
            amount=data.draw(st.sampled_from(amounts)),
            flags=POST if kind == "post" else VOID,
            code=data.draw(st.sampled_from([0, 0, 3])),
        )
        if hold and data.draw(st.booleans()):  # state what the hold has, as a check
            t = replace(
                t,
                debit_account_id=hold.debit,
                credit_account_id=hold.credit,
                currency=hold.currency,
            )
        odd = data.draw(st.sampled_from([None] * 8 + list(ODD_RESOLVE)))
        changes: dict[str, Any] = {
            None: {},
            "debit": {"debit_account_id": "acct_missing"},
            "credit": {"credit_account_id": "acct_missing"},
            "currency": {"currency": "USD"},
            "more": {"amount": full + 1},
        }[odd]
        return replace(t, **changes)

    def draw_change(self, data: st.DataObject, old: TransferRequest) -> TransferRequest:
        stored = [t.request for t in self.model.transfers.values()]
        if stored and data.draw(st.booleans()):
            old = data.draw(st.sampled_from(stored))
        change = data.draw(st.sampled_from(CHANGES))
        changes: dict[str, Any] = {
            "amount": {"amount": (old.amount or 0) + 1},
            "code": {"code": old.code + 1},
            "metadata": {"metadata": {"n": 2}},
            "timeout_s": {"timeout_s": old.timeout_s + 1},
            "debit": {"debit_account_id": "acct_1" if old.debit_account_id else "acct_2"},
            "credit": {"credit_account_id": "acct_3" if old.credit_account_id else "acct_0"},
            "currency": {"currency": "CNY" if old.currency == "USD" else "USD"},
            "flags": {"flags": old.flags ^ BALANCING_DR},
            "pending_id": {"pending_id": "tr_missing" if old.pending_id else None},
        }[change]
        return replace(old, **changes)

    def draw_malformed(self, data: st.DataObject, t: TransferRequest) -> TransferRequest:
        how = data.draw(st.sampled_from(MALFORMED))
        changes: dict[str, Any] = {
            "empty_id": {"id": ""},
            "long_id": {"id": "x" * (limits.ID_LENGTH_MAX + 1)},
            "pending_and_post": {"flags": PENDING | POST, "pending_id": "tr_1"},
            "post_and_balancing": {"flags": POST | BALANCING_DR, "pending_id": "tr_1"},
            "post_without_pending_id": {"flags": POST},
            "pending_id_on_single": {"pending_id": "tr_1"},
            "pending_id_is_own_id": {"flags": POST, "pending_id": t.id},
            "timeout_without_pending": {"flags": t.flags & ~PENDING, "timeout_s": 5},
            "code_too_big": {"code": limits.CODE_MAX + 1},
            "amount_too_big": {"amount": limits.AMOUNT_MAX + 1},
            "no_currency": {"currency": None},
            "no_amount": {"amount": None},
            "zero_amount": {"amount": 0},
            "unknown_currency": {"currency": "ZZZ"},
        }[how]
        return replace(t, **changes)


def test_the_ledger_agrees_with_a_reference_model_after_every_random_step(
    _migrated_template: str, tmp_path: Path
) -> None:
    LedgerMachine.databases = Databases(_migrated_template, tmp_path)
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(max_examples=30, stateful_step_count=20, deadline=None),
        )
    finally:
        LedgerMachine.databases.close()


def test_an_account_whose_only_hold_has_expired_can_be_closed(
    ledger: Ledger, clock: ManualClock
) -> None:
    """The sequence the state machine shrank to: the hold's timeout has run out, so the
    account has nothing pending, even if no read or batch has written the expiry yet."""
    for account_id in ("acct_a", "acct_b"):
        ledger.create_account(AccountRequest(currency="CNY", id=account_id))
    hold = TransferRequest(
        id="tr_hold",
        debit_account_id="acct_a",
        credit_account_id="acct_b",
        amount=5,
        currency="CNY",
        flags=PENDING,
        timeout_s=1,
    )
    assert [r.result for r in ledger.create_transfers([hold])] == ["created"]
    clock.advance(1)
    assert ledger.set_account_status("acct_a", AccountStatus.CLOSED).status == "closed"
