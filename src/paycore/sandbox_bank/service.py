"""The sandbox bank's use cases: accept, decide, finish later, notify, return, report.

Everything that touches the store runs on the bank's event loop thread, and no use case
awaits between reading and writing, so each is atomic without locks (the refund limit
holds under any concurrency). Slow answers (timeouts, hangs) wait with asyncio.sleep
after the write, never blocking the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from paycore.channels import signing
from paycore.clock import Clock
from paycore.errors import PaycoreError, Rejected
from paycore.ids import encode_base32, uuid7_int
from paycore.sandbox_bank import model
from paycore.sandbox_bank import request_fields as fields
from paycore.sandbox_bank.config import BankConfig, FaultMix
from paycore.sandbox_bank.credits import Credit, CreditRequest
from paycore.sandbox_bank.keys import prepare_data_dir
from paycore.sandbox_bank.model import (
    Decision,
    Transport,
    Txn,
    TxnStatus,
    TxnType,
)
from paycore.sandbox_bank.notifier import Notifier
from paycore.sandbox_bank.statement import day_window, render_statement, statement_lines
from paycore.sandbox_bank.store import BankStore

log = logging.getLogger(__name__)

SCHEDULER_TICK_MAX_S = 0.25
SCHEDULER_BATCH_MAX = 2_000
"""Transactions finished in one step of the scheduler, so the loop stays responsive."""
NOT_FOUND = "not_found"


class BankUnavailable(PaycoreError):
    """Answer 503: the request was not processed."""


class BankFailedAfterRecording(PaycoreError):
    """Answer 500: the transaction was recorded, the caller does not learn its result."""


def new_bank_txn_no() -> str:
    return f"BT{encode_base32(uuid7_int())}"


class Bank:
    """One sandbox bank: its keys, store, failure mix, scheduler and notifier."""

    def __init__(self, config: BankConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = model.ShiftedClock(clock)
        self.faults: FaultMix = config.faults
        self.zone = ZoneInfo(config.business_timezone)
        self.decider = model.Decider(config.seed)
        files, _ = prepare_data_dir(config)
        self.private_key: Ed25519PrivateKey = signing.load_private_key(files.bank_private)
        self._merchant_keys: dict[str, Ed25519PublicKey] = {
            config.merchant_id: signing.load_public_key(files.merchant_public)
        }
        self.nonces = signing.NonceGuard()
        self._store = BankStore(config.database_path)
        self._heap: list[tuple[float, int, str]] = []
        self._live: dict[str, Txn] = {}
        """Transactions with something still due (a result or a return), by bank number:
        the scheduler's copy, kept in step with every write so it never re-reads rows."""
        self._sequence = itertools.count()
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.notifier = Notifier(
            private_key=self.private_key,
            key_id=config.bank_key_id,
            faults=lambda: self.faults,
            decider=self.decider,
            clock=self.clock,
        )

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._store.commit_later(asyncio.get_running_loop().call_soon)
        for txn in self._store.pending():
            self._track(txn)
        self._tasks = [
            asyncio.create_task(self._run_scheduler(), name="bank-scheduler"),
            asyncio.create_task(self.notifier.run(), name="bank-notifier"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.notifier.aclose()
        self._store.close()

    def merchant_key(self, merchant_id: str) -> Ed25519PublicKey | None:
        return self._merchant_keys.get(merchant_id)

    def hang_delay_s(self) -> float:
        return self.decider.uniform(self.faults.hang_min_s, self.faults.hang_max_s)

    # -- creating -------------------------------------------------------------------------

    async def create_payin(self, merchant_id: str, data: Mapping[str, Any]) -> Txn:
        reference = fields.reference_of(data)
        amount, currency = fields.money_of(data)
        notify_url = fields.notify_url_of(data)
        expires_at = fields.instant_of(data, "expires_at")
        hint, card_valid = fields.card_of(data)
        fields.description_of(data)
        transport = self._transport()
        now = self.clock.now()
        if expires_at <= now:
            decision = model.refusal(model.PAYIN_EXPIRED)
        elif not card_valid:
            decision = Decision(TxnStatus.FAILED, "invalid_card", synchronous=True)
        else:
            decision = self.decider.outcome(self.faults, TxnType.PAYIN)
        txn = self._new_txn(
            decision, merchant_id, TxnType.PAYIN, reference, amount, currency, notify_url, hint
        )
        return await self._answer(self._record(txn), transport)

    async def create_payout(self, merchant_id: str, data: Mapping[str, Any]) -> Txn:
        reference = fields.reference_of(data)
        amount, currency = fields.money_of(data)
        notify_url = fields.notify_url_of(data)
        hint = fields.account_of(data)
        fields.description_of(data)
        transport = self._transport()
        decision = self.decider.outcome(self.faults, TxnType.PAYOUT)
        txn = self._new_txn(
            decision, merchant_id, TxnType.PAYOUT, reference, amount, currency, notify_url, hint
        )
        return await self._answer(self._record(txn), transport)

    async def create_refund(self, merchant_id: str, data: Mapping[str, Any]) -> Txn:
        reference = fields.reference_of(data)
        payin_reference = fields.reference_of(data, "payin_reference")
        amount, currency = fields.money_of(data)
        notify_url = fields.notify_url_of(data)
        payin_txn_no = data.get("payin_bank_txn_no") or ""
        if not isinstance(payin_txn_no, str):
            raise Rejected(model.INVALID_REQUEST, "payin_bank_txn_no must be a string")
        transport = self._transport()
        # From here to the write nothing awaits: the refund limit cannot be raced.
        existing = self._store.get(merchant_id, TxnType.REFUND, reference)
        if existing is not None:
            self._check_same(existing, amount, currency, payin_reference)
            return await self._answer(self._up_to_date(existing), transport)
        payin = self._store.get(merchant_id, TxnType.PAYIN, payin_reference)
        payin = self._up_to_date(payin) if payin else None
        reserved = self._store.refunds_reserved_minor(merchant_id, payin_reference)
        why = model.refund_refusal(payin, amount, currency, reserved)
        if not why and payin is not None and payin_txn_no not in ("", payin.bank_txn_no):
            why = model.INVALID_REQUEST
        decision = model.refusal(why) if why else self.decider.outcome(self.faults, TxnType.REFUND)
        txn = self._new_txn(
            decision, merchant_id, TxnType.REFUND, reference, amount, currency, notify_url, ""
        )
        txn = dataclasses.replace(txn, payin_reference=payin_reference)
        return await self._answer(self._record(txn), transport)

    def _transport(self) -> Transport:
        transport = self.decider.transport(self.faults)
        if transport is Transport.UNAVAILABLE:
            raise BankUnavailable("the bank is temporarily unavailable")
        return transport

    def _new_txn(
        self,
        decision: Decision,
        merchant_id: str,
        kind: TxnType,
        reference: str,
        amount_minor: int,
        currency: str,
        notify_url: str,
        account_hint: str,
    ) -> Txn:
        now = self.clock.now()
        txn = Txn(
            bank_txn_no=new_bank_txn_no(),
            merchant_id=merchant_id,
            type=kind,
            reference=reference,
            amount_minor=amount_minor,
            currency=currency,
            status=TxnStatus.PROCESSING,
            created_at=now,
            notify_url=notify_url,
            account_hint=account_hint,
            planned_status=decision.status,
            planned_failure_code=decision.failure_code,
            completes_at=now + timedelta(seconds=decision.complete_after_s),
            silent=decision.silent,
        )
        if decision.synchronous:
            return self._completed(txn, now)
        return txn

    def _record(self, txn: Txn) -> Txn:
        """Store a new transaction, or return the one already stored under its reference."""
        if not self._store.insert_new(txn):
            existing = self._store.get(txn.merchant_id, txn.type, txn.reference)
            if existing is None:  # pragma: no cover - the insert was ignored for another reason
                raise BankFailedAfterRecording("the transaction could not be stored")
            if existing.is_close_marker:
                return existing
            self._check_same(existing, txn.amount_minor, txn.currency, txn.payin_reference)
            return self._up_to_date(existing)
        self._track(txn)
        if txn.status is not TxnStatus.PROCESSING and not txn.silent:
            self.notifier.notify(txn)
        return txn

    @staticmethod
    def _check_same(existing: Txn, amount: int, currency: str, payin_reference: str) -> None:
        if not existing.same_request(amount, currency, payin_reference):
            raise Rejected(
                model.REFERENCE_CONFLICT,
                f"{existing.reference} exists with another amount, currency or pay-in",
            )

    async def _answer(self, txn: Txn, transport: Transport) -> Txn:
        if transport is Transport.ERROR_AFTER:
            raise BankFailedAfterRecording(f"{txn.bank_txn_no} recorded; the answer was lost")
        if transport is Transport.SLOW:
            await asyncio.sleep(self.faults.timeout_delay_s)
            latest = self._store.get(txn.merchant_id, txn.type, txn.reference)
            return self._up_to_date(latest or txn)
        return txn

    # -- reading and closing --------------------------------------------------------------

    def query(self, merchant_id: str, kind: TxnType, reference: str) -> Txn:
        txn = self._store.get(merchant_id, kind, reference)
        if txn is None:
            raise Rejected(NOT_FOUND, f"no {kind.value} {reference}")
        return self._up_to_date(txn)

    def close_payin(self, merchant_id: str, reference: str) -> Txn:
        """Close an unpaid pay-in; a pay-in never seen is closed in advance (amount 0)."""
        fields.reference_of({"reference": reference})
        txn = self._store.get(merchant_id, TxnType.PAYIN, reference)
        now = self.clock.now()
        if txn is None:
            marker = Txn(
                bank_txn_no=new_bank_txn_no(),
                merchant_id=merchant_id,
                type=TxnType.PAYIN,
                reference=reference,
                amount_minor=0,
                currency="",
                status=TxnStatus.CLOSED,
                created_at=now,
                finished_at=now,
            )
            if self._store.insert_new(marker):
                return marker
            return self.close_payin(merchant_id, reference)
        txn = self._up_to_date(txn)
        if txn.status is not TxnStatus.PROCESSING:
            return txn
        closed = dataclasses.replace(
            txn,
            status=TxnStatus.CLOSED,
            finished_at=now,
            planned_status=None,
            planned_failure_code="",
            completes_at=None,
        )
        self._save([closed])
        return closed

    def _up_to_date(self, txn: Txn) -> Txn:
        """`txn` with any result or return that is already due applied (and notified)."""
        steps = self._due_steps(txn, self.clock.now())
        if not steps:
            return txn
        self._save([steps[-1]])
        self._notify(steps)
        return steps[-1]

    def _due_steps(self, txn: Txn, now: datetime) -> list[Txn]:
        """The states `txn` passes through by `now`: its result, then perhaps its return."""
        steps = []
        current = txn
        due = current.completes_at
        if current.status is TxnStatus.PROCESSING and due is not None and due <= now:
            current = self._completed(current, now)
            steps.append(current)
        due = current.return_at
        if current.status is TxnStatus.SUCCEEDED and due is not None and due <= now:
            current = model.returned(current, now=now)
            steps.append(current)
        return steps

    def _completed(self, txn: Txn, now: datetime) -> Txn:
        return self._with_return_plan(model.completed(txn, now=now, fee_bps=self.config.fee_bps))

    def _with_return_plan(self, txn: Txn) -> Txn:
        if txn.type is not TxnType.PAYOUT or txn.status is not TxnStatus.SUCCEEDED:
            return txn
        if not self.decider.chance(self.faults.payout_return_rate):
            return txn
        due = (txn.finished_at or self.clock.now()) + timedelta(seconds=self.faults.return_delay_s)
        return dataclasses.replace(txn, return_at=due)

    def _notify(self, steps: list[Txn]) -> None:
        for step in steps:
            if not step.silent:
                self.notifier.notify(step)

    # -- the scheduler: results and returns that fall due ------------------------------------

    def _save(self, changed: list[Txn]) -> None:
        self._store.update(changed)
        for txn in changed:
            self._track(txn)

    def _track(self, txn: Txn) -> None:
        """Keep `txn` in the live map and on the heap while something is due for it."""
        if txn.status is TxnStatus.PROCESSING and txn.completes_at is not None:
            due = txn.completes_at
        elif txn.status is TxnStatus.SUCCEEDED and txn.return_at is not None:
            due = txn.return_at
        else:
            self._live.pop(txn.bank_txn_no, None)
            return
        self._live[txn.bank_txn_no] = txn
        due_s = due.timestamp()
        if self._wake is not None and (not self._heap or due_s < self._heap[0][0]):
            self._wake.set()
        heapq.heappush(self._heap, (due_s, next(self._sequence), txn.bank_txn_no))

    async def _run_scheduler(self) -> None:
        if self._wake is None:  # pragma: no cover - start() sets it
            return
        while True:
            now_s = self.clock.now().timestamp()
            due: dict[str, None] = {}
            while self._heap and self._heap[0][0] <= now_s and len(due) < SCHEDULER_BATCH_MAX:
                due[heapq.heappop(self._heap)[2]] = None
            if due:
                try:
                    self._finish_due(list(due))
                except Exception:  # the scheduler must outlive one bad batch
                    log.exception("sandbox bank scheduler step failed", extra={"count": len(due)})
                await asyncio.sleep(0)
                continue
            wait_s = min(self._heap[0][0] - now_s, SCHEDULER_TICK_MAX_S) if self._heap else 1.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait_s, 0.0))

    def _finish_due(self, bank_txn_nos: list[str]) -> None:
        now = self.clock.now()
        live = [self._live[number] for number in bank_txn_nos if number in self._live]
        changes = [steps for steps in (self._due_steps(txn, now) for txn in live) if steps]
        self._save([steps[-1] for steps in changes])
        for steps in changes:
            self._notify(steps)

    # -- admin ----------------------------------------------------------------------------

    def set_faults(self, changes: Mapping[str, Any]) -> FaultMix:
        self.faults = self.faults.updated(changes)
        return self.faults

    def advance(self, seconds: float) -> None:
        """Move the bank's clock forward: due results and returns happen at once."""
        if not 0 <= seconds <= 366 * 86_400:
            raise Rejected(model.INVALID_REQUEST, "seconds must be within 0 .. one year")
        self.clock.advance(seconds)
        if self._wake is not None:
            self._wake.set()

    def trigger_returns(self) -> list[Txn]:
        """Return every paid payout that is waiting for its return, now."""
        now = self.clock.now()
        waiting = [txn for txn in self._live.values() if txn.status is TxnStatus.SUCCEEDED]
        returned = [model.returned(txn, now=now) for txn in waiting]
        self._save(returned)
        self._notify(returned)
        return returned

    async def transactions(
        self, *, kind: TxnType | None = None, merchant_id: str | None = None
    ) -> list[Txn]:
        return await asyncio.to_thread(self._store.listing, kind=kind, merchant_id=merchant_id)

    def receive_credit(self, merchant_id: str, request: CreditRequest) -> Credit:
        """A third party's transfer into one of the merchant's accounts, booked now."""
        credit = Credit(
            bank_txn_no=new_bank_txn_no(),
            merchant_id=merchant_id,
            account=request.account,
            amount_minor=request.amount_minor,
            currency=request.currency,
            payer_account=request.payer_account,
            payer_name=request.payer_name,
            booked_at=self.clock.now(),
        )
        self._store.insert_credit(credit)
        return credit

    async def statement(self, merchant_id: str, day: date) -> bytes:
        start, end = day_window(day, self.zone)
        txns = await asyncio.to_thread(self._store.finished_between, merchant_id, start, end)
        received = await asyncio.to_thread(self._store.credits_between, merchant_id, start, end)
        lines = statement_lines(txns, day, self.zone, received)
        return render_statement(lines, day, self.zone)
