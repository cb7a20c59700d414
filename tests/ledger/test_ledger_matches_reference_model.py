"""The real Ledger, driven by random steps, agrees with a small in-memory reference model.

Hypothesis drives a fresh ledger per example: accounts in two currencies with random
limit flags, batches of transfers (linked chains, holds with timeouts, full and partial
posts, voids, balancing transfers, malformed requests, replays of old ids with the same
or a changed body) and a manual clock that moves to expire holds. `ReferenceLedger`
re-states the transfer rules from scratch, without `Posting`, and predicts every result
code and every balance.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
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
    TransferRequest,
)
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import make_engine
from tests.conftest import ON_POSTGRES, POSTGRES_URL
from tests.ledger.reference_ledger import (
    ACCOUNT_FLAGS,
    ACCOUNTS_MAX,
    BALANCING_CR,
    BALANCING_DR,
    CR_LIMIT,
    CURRENCIES,
    DR_LIMIT,
    LINKED,
    NONE,
    PENDING,
    POST,
    TIMEOUT_TOO_LONG_S,
    VOID,
    RefAccount,
    ReferenceLedger,
)

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
                # The audit log refuses TRUNCATE by trigger (append-only); a test database
                # is emptied as a DBA would, with triggers off for this transaction only.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
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
        index = len(self.model.accounts)
        account_id, owner_id = f"acct_{index}", "m1" if index % 3 == 2 else None
        request = AccountRequest(currency=currency, id=account_id, flags=flags, owner_id=owner_id)
        account, created = self.ledger.create_account(request)
        assert created and account.balances() == (0, 0, 0, 0)
        self.model.accounts[account_id] = RefAccount(currency, flags, owner_id=owner_id)

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
        request = AccountRequest(
            currency=currency, id=account_id, flags=flags, owner_id=ref.owner_id
        )
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
            bank_confirmed=data.draw(st.sampled_from([False, False, True])),
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
