"""Running attempts: claim a due period, move the money, record the outcome.

Three steps, none holding a transaction across the network or the ledger's writer:
claim (a compare-and-set inserts the attempt with a lease) → execute (ledger transfers,
or a pay-in through a channel) → finish (a compare-and-set on the attempt; only the
winner moves the period and writes the merchant's event, in the same transaction).
A worker that dies mid-way leaves its attempt open; when the lease runs out the next
pass resumes it under the *same* ids, so no money moves twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from paycore.channels.model import Payer
from paycore.clock import Clock
from paycore.collection import bookkeeping, store
from paycore.collection.model import (
    DESCRIPTION_PREFIX,
    LEASE_S,
    OPEN_ATTEMPTS,
    RUN_BATCH_MAX,
    Attempt,
    AttemptStatus,
    Method,
    Period,
    PeriodStatus,
    Plan,
    PlanStatus,
    after_failure,
    attempt_id,
    due_at,
    due_date,
    event_payload,
    failure_reason,
    is_finished,
)
from paycore.errors import InvariantViolation, Rejected
from paycore.ledger.service import Ledger
from paycore.notifications.service import enqueue
from paycore.payments.model import Order, OrderStatus
from paycore.payments.service import PayinCommand, Payments
from paycore.platform.db import WRITER
from paycore.security.crypto import FieldCipher

log = logging.getLogger(__name__)

ATTEMPT_META_KEY = "collection_attempt"
_DONE = ("created", "exists")


@dataclass
class RunReport:
    started: int = 0  # first attempts of periods that fell due
    retried: int = 0
    resumed: int = 0  # open attempts looked after (crashed, waiting, or captured)
    errors: list[str] = field(default_factory=list)


class Collector:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        payments: Payments,
        cipher: FieldCipher,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._payments = payments
        self._cipher = cipher
        self._clock = clock

    # -- one pass -----------------------------------------------------------------------

    def run_due(self, now: datetime, *, plan_id: str | None = None) -> RunReport:
        """`plan_id` limits the pass to one plan (a demo running ahead of the clock must
        not collect other plans early); open attempts are then left to the next pass."""
        report = RunReport()
        budget = RUN_BATCH_MAX
        while budget > 0:  # rounds, so a plan behind by several months catches up
            with self._engine.connect() as conn:
                due = store.due_plans(conn, now, budget, plan_id)
            claimed = [a for a in (self._claim_period(p, now) for p in due) if a is not None]
            for attempt in claimed:
                self._guarded(report, attempt, lambda a: self._execute(a, now))
            report.started += len(claimed)
            budget -= max(1, len(claimed))
            if not claimed:
                break
        with self._engine.connect() as conn:
            retries = store.due_retries(conn, now, RUN_BATCH_MAX, plan_id)
        for period in retries:
            retry = self._claim_retry(period, now)
            if retry is not None:
                report.retried += 1
                self._guarded(report, retry, lambda a: self._execute(a, now))
        if plan_id is not None:
            return report
        with self._engine.connect() as conn:
            stale = store.open_attempts(conn, now, RUN_BATCH_MAX)
        for attempt in stale:
            if self._take_over(attempt, now):
                report.resumed += 1
                self._guarded(report, attempt, lambda a: self._resume(a, now))
        return report

    def _guarded(self, report: RunReport, attempt: Attempt, step: Any) -> None:
        # One attempt failing must not stop the others; its lease brings it back later.
        try:
            step(attempt)
        except Exception as error:
            log.exception("collection attempt %s failed to run", attempt.id)
            report.errors.append(f"{attempt.id}: {error}")

    # -- claims -------------------------------------------------------------------------

    def _claim_period(self, plan: Plan, now: datetime) -> Attempt | None:
        number = plan.next_period_no
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            won = store.move_plan(
                conn,
                plan,
                status=plan.status,
                next_period_no=number + 1,
                next_due_at=due_at(plan.terms, number + 1),
                now=now,
            )
            if not won:
                return None
            store.insert_period(
                conn,
                plan_id=plan.id,
                period_no=number,
                due_date=due_date(plan.terms, number),
                status=PeriodStatus.COLLECTING,
                attempts_made=1,
                now=now,
            )
            return self._insert_attempt(conn, plan, number, 1, now)

    def _claim_retry(self, period: Period, now: datetime) -> Attempt | None:
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            plan = store.get_plan(conn, period.plan_id, lock=True)
            if plan is None or plan.status is not PlanStatus.ACTIVE:
                return None
            number = period.attempts_made + 1
            won = store.move_period(
                conn,
                period,
                status=PeriodStatus.COLLECTING,
                attempts_made=number,
                next_attempt_at=None,
                now=now,
            )
            if not won:
                return None
            return self._insert_attempt(conn, plan, period.period_no, number, now)

    def _insert_attempt(
        self, conn: Connection, plan: Plan, period_no: int, number: int, now: datetime
    ) -> Attempt:
        attempt = Attempt(
            id=attempt_id(plan.id, period_no, number),
            plan_id=plan.id,
            period_no=period_no,
            attempt_no=number,
            method=plan.terms.method,
            status=AttemptStatus.RUNNING,
            payin_id=None,
            failure_code=None,
            settle_tries=0,
            started_at=now,
            lease_until=now + timedelta(seconds=LEASE_S),
            finished_at=None,
        )
        store.insert_attempt(conn, attempt)
        return attempt

    def _take_over(self, attempt: Attempt, now: datetime) -> bool:
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            return store.move_attempt(
                conn,
                attempt.id,
                expected=[attempt.status],
                expected_lease=attempt.lease_until,
                lease_until=now + timedelta(seconds=LEASE_S),
            )

    # -- execution ----------------------------------------------------------------------

    def _plan(self, plan_id: str) -> Plan:
        with self._engine.connect() as conn:
            plan = store.get_plan(conn, plan_id)
        if plan is None:
            raise InvariantViolation(f"an attempt of a missing plan {plan_id}")
        return plan

    def _execute(self, attempt: Attempt, now: datetime) -> None:
        plan = self._plan(attempt.plan_id)
        if attempt.method is Method.WALLET:
            legs = bookkeeping.wallet_legs(plan, attempt.id)
            results = [r.result for r in self._ledger.create_transfers(legs)]
            if all(r in _DONE for r in results):
                self.finish(attempt.id, succeeded=True, now=now)
            else:
                self.finish(attempt.id, failure_code=failure_reason(results), now=now)
            return
        self._charge(plan, attempt, now)

    def _resume(self, attempt: Attempt, now: datetime) -> None:
        if attempt.status is AttemptStatus.RUNNING:
            self._execute(attempt, now)  # the same ids and idempotency key: money moves once
        elif attempt.status is AttemptStatus.PENDING and attempt.payin_id:
            order = self._payments.get(merchant_id=None, order_id=attempt.payin_id)
            self.on_payin(attempt.id, order, now)
        elif attempt.status is AttemptStatus.CAPTURED:
            self._pay_landlord(self._plan(attempt.plan_id), attempt.id, now)

    def _charge(self, plan: Plan, attempt: Attempt, now: datetime) -> None:
        """A pay-in from the tenant's card; idempotent by the attempt id."""
        card = self._cipher.decrypt(plan.card_enc or "", context=f"{plan.id}:card")
        command = PayinCommand(
            merchant_id=plan.merchant_id,
            product=plan.terms.product,
            amount=plan.terms.amount,
            currency=plan.terms.currency,
            payer=Payer(card_number=card),
            description=f"{DESCRIPTION_PREFIX} {plan.id} period {attempt.period_no}",
            metadata={ATTEMPT_META_KEY: attempt.id},
        )
        try:
            key = f"collection:{attempt.id}"
            created = self._payments.create_payin(command, idempotency_key=key)
        except Rejected as refusal:
            if refusal.code == "request_in_progress":
                return  # another worker holds it; the lease brings it back
            self.finish(attempt.id, failure_code=refusal.code, now=now)
            return
        order = self._payments.get(merchant_id=None, order_id=str(created.body["id"]))
        self.on_payin(attempt.id, order, now)

    def on_payin(self, attempt_id: str, order: Order, now: datetime) -> None:
        """Bring the attempt to what its pay-in says (from the listener, a sweep or the
        charge itself, in any order and any number of times)."""
        with self._engine.connect() as conn:
            known = store.get_attempt(conn, attempt_id)
        if known is None or known.status not in OPEN_ATTEMPTS:
            return
        # Never before the attempt began: `run_due(now)` may run ahead of the clock.
        now = max(now, known.started_at)
        lease = now + timedelta(seconds=LEASE_S)
        if order.status is OrderStatus.SUCCEEDED:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.move_attempt(
                    conn,
                    attempt_id,
                    expected=[AttemptStatus.RUNNING, AttemptStatus.PENDING],
                    lease_until=lease,
                    status=AttemptStatus.CAPTURED,
                    payin_id=order.id,
                )
                attempt = store.get_attempt(conn, attempt_id)
            if attempt is not None and attempt.status is AttemptStatus.CAPTURED:
                self._pay_landlord(self._plan(attempt.plan_id), attempt_id, now)
        elif order.status in (OrderStatus.FAILED, OrderStatus.CLOSED):
            code = order.failure.code if order.failure else f"payin_{order.status.value}"
            self.finish(attempt_id, failure_code=code, payin_id=order.id, now=now)
        else:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.move_attempt(
                    conn,
                    attempt_id,
                    expected=[AttemptStatus.RUNNING, AttemptStatus.PENDING],
                    lease_until=lease,
                    status=AttemptStatus.PENDING,
                    payin_id=order.id,
                )

    def pay_landlord_step(self, plan: Plan, attempt_id: str, settle_try: int) -> str:
        """One landlord transfer; a seam the crash tests break."""
        [result] = self._ledger.create_transfers(
            [bookkeeping.landlord_leg(plan, attempt_id, settle_try)]
        )
        return result.result

    def _pay_landlord(self, plan: Plan, attempt_id: str, now: datetime) -> None:
        with self._engine.connect() as conn:
            attempt = store.get_attempt(conn, attempt_id)
        if attempt is None or attempt.status is not AttemptStatus.CAPTURED:
            return
        result = self.pay_landlord_step(plan, attempt_id, attempt.settle_tries)
        if result in _DONE:
            self.finish(attempt_id, succeeded=True, now=now)
            return
        # The merchant's wallet was short: that id is burnt; the next try, after the
        # lease, uses a new one. Only the worker that saw this try fail moves it on.
        log.warning("landlord transfer of %s refused: %s", attempt_id, result)
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.move_attempt(
                conn,
                attempt_id,
                expected=[AttemptStatus.CAPTURED],
                expected_settle_tries=attempt.settle_tries,
                settle_tries=attempt.settle_tries + 1,
                failure_code=failure_reason([result]),
            )

    # -- outcome ------------------------------------------------------------------------

    def finish(
        self,
        attempt_id: str,
        *,
        now: datetime,
        succeeded: bool = False,
        failure_code: str | None = None,
        payin_id: str | None = None,
    ) -> bool:
        """Close the attempt and move its period; False if someone else closed it first."""
        status = AttemptStatus.SUCCEEDED if succeeded else AttemptStatus.FAILED
        changes: dict[str, Any] = {"status": status, "finished_at": now}
        changes["failure_code"] = None if succeeded else failure_code
        if payin_id is not None:
            changes["payin_id"] = payin_id
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if not store.move_attempt(conn, attempt_id, expected=OPEN_ATTEMPTS, **changes):
                return False
            attempt = store.get_attempt(conn, attempt_id)
            if attempt is None:
                raise InvariantViolation(f"attempt {attempt_id} vanished")
            plan = store.get_plan(conn, attempt.plan_id, lock=True)
            period = store.get_period(conn, attempt.plan_id, attempt.period_no)
            if plan is None or period is None:
                raise InvariantViolation(f"attempt {attempt_id} lost its plan or period")
            self._move_period(conn, plan, period, attempt, now)
            complete_if_done(conn, plan.id, now, cipher=self._cipher)
        return True

    def _move_period(
        self, conn: Connection, plan: Plan, period: Period, attempt: Attempt, now: datetime
    ) -> None:
        retry_at = None
        if attempt.status is AttemptStatus.SUCCEEDED:
            target, kind = PeriodStatus.PAID, "collection.succeeded"
        elif plan.status is PlanStatus.CANCELLED:
            target, kind = PeriodStatus.CANCELLED, "collection.failed"
        else:
            target, retry_at = after_failure(
                plan.terms, attempts_made=period.attempts_made, now=now
            )
            failed = target is PeriodStatus.FAILED
            kind = "collection.failed" if failed else "collection.retry_scheduled"
        store.move_period(
            conn,
            period,
            status=target,
            attempts_made=period.attempts_made,
            next_attempt_at=retry_at,
            now=now,
        )
        payload = event_payload(
            plan,
            period_no=period.period_no,
            due_date=period.due_date.isoformat(),
            period_status=target.value,
            attempt_no=attempt.attempt_no,
            attempts_max=plan.terms.max_attempts,
            payin_id=attempt.payin_id,
            failure_code=attempt.failure_code,
            next_attempt_at=retry_at.isoformat() if retry_at else None,
        )
        enqueue(
            conn,
            cipher=self._cipher,
            merchant_id=plan.merchant_id,
            type=kind,
            object_id=attempt.id,
            payload=payload,
            now=now,
        )


def complete_if_done(conn: Connection, plan_id: str, now: datetime, *, cipher: FieldCipher) -> None:
    """An active plan whose last period is collected (or given up) becomes completed."""
    plan = store.get_plan(conn, plan_id)
    if plan is None or plan.status is not PlanStatus.ACTIVE:
        return
    if not is_finished(plan, store.open_period_count(conn, plan_id)):
        return
    if store.move_plan(
        conn,
        plan,
        status=PlanStatus.COMPLETED,
        next_period_no=plan.next_period_no,
        next_due_at=None,
        now=now,
    ):
        plan.status = PlanStatus.COMPLETED
        enqueue(
            conn,
            cipher=cipher,
            merchant_id=plan.merchant_id,
            type="collection.plan_completed",
            object_id=plan.id,
            payload=event_payload(plan),
            now=now,
        )
