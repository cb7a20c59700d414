"""Recurring collection plans (代收) use cases: create, read, schedule, pause, resume,
cancel, and the periodic run of due collections (`collect.Collector`)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from paycore import ids
from paycore.clock import Clock
from paycore.collection import store
from paycore.collection.collect import ATTEMPT_META_KEY, Collector, RunReport, complete_if_done
from paycore.collection.model import (
    PERIODS_MAX,
    UPCOMING_SHOWN_OPEN_ENDED,
    Attempt,
    PeriodStatus,
    Plan,
    PlanStatus,
    ScheduleLine,
    Terms,
    check_reference,
    check_terms,
    due_at,
    due_date,
    event_payload,
    local_date,
    next_status,
    projected_status,
)
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.notifications.service import enqueue
from paycore.payments import bookkeeping as books
from paycore.payments.model import Order
from paycore.payments.service import Payments
from paycore.platform.db import WRITER
from paycore.security.blind_service import BlindIndex
from paycore.security.crypto import FieldCipher, SubjectErased
from paycore.security.masking import mask_card
from paycore.security.subjects_choice import payer_subject
from paycore.wallets.service import Wallets

log = logging.getLogger(__name__)

PLANS_PAGE_MAX = 200


class Collections:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        payments: Payments,
        wallets: Wallets,
        cipher: FieldCipher,
        blind: BlindIndex | None = None,
    ) -> None:
        self._engine = engine
        self._blind = blind
        self._ledger = ledger
        self._clock = clock
        self._payments = payments
        self._wallets = wallets
        self._cipher = cipher
        self.collector = Collector(
            engine=engine, ledger=ledger, payments=payments, cipher=cipher, clock=clock
        )
        payments.on_final(self._on_payin_final)

    # -- plans --------------------------------------------------------------------------

    def create(
        self,
        merchant_id: str,
        terms: Terms,
        *,
        card_number: str | None = None,
        reference: str | None = None,
    ) -> Plan:
        """A new active plan. Idempotent by `reference`: the same terms answer the plan
        made the first time; other terms are `plan_reference_reused`."""
        check_reference(reference)
        now = self._clock.now()
        fee = check_terms(terms, has_card=card_number is not None, today=local_date(now))
        if card_number is not None and not (
            card_number.isascii() and card_number.isdigit() and 12 <= len(card_number) <= 19
        ):
            raise Rejected("invalid_card_number", "card_number is 12-19 digits")
        if reference is not None:
            found = self._by_reference(merchant_id, reference, terms, card_number)
            if found is not None:
                return found
        self._open_accounts(merchant_id, terms)
        plan_id = ids.new_id("cp")
        plan = Plan(
            id=plan_id,
            merchant_id=merchant_id,
            reference=reference,
            terms=terms,
            fee_amount=fee,
            card_enc=None,
            card_masked=None,
            status=PlanStatus.ACTIVE,
            next_period_no=1,
            next_due_at=due_at(terms, 1),
            created_at=now,
            updated_at=now,
        )
        if card_number is not None:
            # The card's holder is the plan's data subject (security/subjects_choice.py).
            subject = payer_subject(self._cipher, self._blind, {"card_number": card_number})
            plan.card_enc = self._cipher.encrypt(
                card_number, context=f"{plan_id}:card", subject=subject
            )
            plan.card_masked = mask_card(card_number)
        try:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.insert_plan(conn, plan)
                if self._blind is not None:  # the plan's card, findable without decrypting
                    self._blind.write(
                        conn,
                        object_type="collection_plan",
                        object_id=plan.id,
                        merchant_id=merchant_id,
                        numbers={"card_number": card_number},
                    )
                self._event(conn, plan, "collection.plan_created", now)
        except IntegrityError:
            # The same reference, created concurrently: answer that one (or refuse).
            if reference is None:
                raise
            found = self._by_reference(merchant_id, reference, terms, card_number)
            if found is None:
                raise
            return found
        return plan

    def _by_reference(
        self, merchant_id: str, reference: str, terms: Terms, card_number: str | None
    ) -> Plan | None:
        with self._engine.connect() as conn:
            found = store.find_by_reference(conn, merchant_id, reference)
        if found is None:
            return None
        same_card = (found.card_enc is None and card_number is None) or (
            found.card_enc is not None
            and card_number is not None
            and self._plan_card(found) == card_number
        )
        if found.terms != terms or not same_card:
            raise Rejected("plan_reference_reused", f"{reference} names a plan with other terms")
        return found

    def _plan_card(self, plan: Plan) -> str | None:
        """The plan's card in clear; None once its payer was erased (crypto-shredded): an
        erased card matches no card, so its reference reads as another plan's."""
        try:
            return self._cipher.decrypt(plan.card_enc or "", context=f"{plan.id}:card")
        except SubjectErased:
            return None

    def _open_accounts(self, merchant_id: str, terms: Terms) -> None:
        """The tenant's and landlord's wallets and the merchant's, before any money moves."""
        for owner in (terms.tenant, terms.landlord):
            if self._wallets.find(merchant_id, owner, terms.currency) is None:
                self._wallets.open(merchant_id, owner, terms.currency)
        self._ledger.create_accounts([books.wallet_request(merchant_id, terms.currency)])

    def get(self, merchant_id: str | None, plan_id: str) -> Plan:
        """The plan; another merchant's plan is `plan_not_found`, as a missing one."""
        with self._engine.connect() as conn:
            plan = store.get_plan(conn, plan_id)
        if plan is None or (merchant_id is not None and plan.merchant_id != merchant_id):
            raise Rejected("plan_not_found", f"no collection plan {plan_id}")
        return plan

    def list_plans(
        self, merchant_id: str | None, *, limit: int = 50, after: str | None = None
    ) -> list[Plan]:
        if not 1 <= limit <= PLANS_PAGE_MAX:
            raise Rejected("limit_out_of_range", f"limit is 1 to {PLANS_PAGE_MAX}")
        with self._engine.connect() as conn:
            return store.list_plans(conn, merchant_id=merchant_id, after=after, limit=limit)

    # -- pause / resume / cancel ---------------------------------------------------------

    def pause(self, merchant_id: str | None, plan_id: str) -> Plan:
        """No new period falls due and no retry runs until resumed; periods that fall due
        meanwhile are skipped. An attempt already running finishes."""
        return self._act(merchant_id, plan_id, "pause")

    def resume(self, merchant_id: str | None, plan_id: str) -> Plan:
        return self._act(merchant_id, plan_id, "resume")

    def cancel(self, merchant_id: str | None, plan_id: str) -> Plan:
        """For good: retries stop, no period falls due. An attempt already in flight (a
        pay-in the bank is processing) still finishes, and pays the landlord if it succeeds."""
        return self._act(merchant_id, plan_id, "cancel")

    def _act(self, merchant_id: str | None, plan_id: str, action: str) -> Plan:
        now = self._clock.now()
        for _ in range(3):  # a racing claim moved the plan on: read it again
            plan = self.get(merchant_id, plan_id)
            target = next_status(plan.status, action)
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                number, next_at = plan.next_period_no, plan.next_due_at
                if action == "resume":
                    number, next_at = missed_until(plan, now)
                if action == "cancel":
                    next_at = None
                # The compare-and-set first: a racing action (or claim) loses here, before
                # it writes skipped periods twice or cancels retries of a plan it did not move.
                moved = store.move_plan(
                    conn, plan, status=target, next_period_no=number, next_due_at=next_at, now=now
                )
                if not moved:
                    conn.rollback()
                    continue
                if action == "resume":
                    self._skip_missed(conn, plan, number, now)
                if action == "cancel":
                    store.cancel_retrying(conn, plan.id, now)
                changed = replace_plan(plan, target, number, next_at, now)
                self._event(conn, changed, f"collection.plan_{target_event(action)}", now)
                complete_if_done(conn, plan.id, now, cipher=self._cipher)
            return self.get(merchant_id, plan_id)
        raise Rejected("plan_busy", "the plan changed meanwhile; try again")

    def _skip_missed(self, conn: Connection, plan: Plan, until: int, now: datetime) -> None:
        """Periods that fell due while paused are recorded as skipped, not collected late."""
        for number in range(plan.next_period_no, until):
            store.insert_period(
                conn,
                plan_id=plan.id,
                period_no=number,
                due_date=due_date(plan.terms, number),
                status=PeriodStatus.SKIPPED,
                attempts_made=0,
                now=now,
            )

    # -- schedule -----------------------------------------------------------------------

    def schedule(self, plan: Plan) -> list[ScheduleLine]:
        """Every period so far with its attempts, then the ones to come (all of a fixed
        plan, the next twelve of an open-ended one)."""
        now = self._clock.now()
        with self._engine.connect() as conn:
            plan = store.get_plan(conn, plan.id) or plan  # as it is now, not as it was read
            stored = store.periods_of(conn, plan.id)
            attempts = store.attempts_of(conn, plan.id)
        by_period: dict[int, list[Attempt]] = {}
        for attempt in attempts:
            by_period.setdefault(attempt.period_no, []).append(attempt)
        lines = [
            self._line(
                plan, p.period_no, p.status, by_period.get(p.period_no, []), p.next_attempt_at
            )
            for p in stored
        ]
        last = plan.terms.periods or plan.next_period_no + UPCOMING_SHOWN_OPEN_ENDED - 1
        for number in range(plan.next_period_no, last + 1):
            status = projected_status(plan, number, now)
            if status is None:
                break
            lines.append(self._line(plan, number, status, [], None))
        return lines

    def _line(
        self,
        plan: Plan,
        number: int,
        status: PeriodStatus,
        attempts: list[Attempt],
        next_attempt_at: datetime | None,
    ) -> ScheduleLine:
        return ScheduleLine(
            period_no=number,
            due_date=due_date(plan.terms, number),
            amount=plan.terms.amount,
            fee=plan.fee_amount,
            landlord_net=plan.landlord_net,
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
        )

    # -- running ------------------------------------------------------------------------

    def run_due(self, now: datetime | None = None, *, plan_id: str | None = None) -> RunReport:
        """Collect what is due at `now` (default: the clock's now), retry what failed
        before, and resume attempts a crashed worker left open."""
        return self.collector.run_due(now or self._clock.now(), plan_id=plan_id)

    def tick(self) -> None:
        """Periodic work, called by the runtime's flows worker every few seconds."""
        report = self.run_due()
        for error in report.errors:
            log.warning("collection: %s", error)

    def _on_payin_final(self, order: Order) -> None:
        attempt_id = order.metadata.get(ATTEMPT_META_KEY)
        if not isinstance(attempt_id, str):
            return
        with self._engine.connect() as conn:
            attempt = store.get_attempt(conn, attempt_id)
        # Metadata is the merchant's to write: any pay-in can name an attempt. Act only on
        # the pay-in the attempt recorded as its own; one not recorded yet is reached by
        # the charge itself or, after a crash, by the lease sweep (same idempotency key).
        if attempt is not None and attempt.payin_id == order.id:
            self.collector.on_payin(attempt_id, order, self._clock.now())

    def _event(self, conn: Connection, plan: Plan, kind: str, now: datetime) -> None:
        enqueue(
            conn,
            cipher=self._cipher,
            merchant_id=plan.merchant_id,
            type=kind,
            object_id=plan.id,
            payload=event_payload(plan),
            now=now,
        )


def missed_until(plan: Plan, now: datetime) -> tuple[int, datetime | None]:
    """The first period a resumed plan collects, and when: those due meanwhile are missed."""
    number, at = plan.next_period_no, plan.next_due_at
    while at is not None and at <= now and number <= PERIODS_MAX * 10:
        number += 1
        at = due_at(plan.terms, number)
    return number, at


def target_event(action: str) -> str:
    return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]


def replace_plan(
    plan: Plan, status: PlanStatus, number: int, next_at: datetime | None, now: datetime
) -> Plan:
    changed = replace(plan)
    changed.status, changed.next_period_no, changed.next_due_at = status, number, next_at
    changed.updated_at = now
    return changed
