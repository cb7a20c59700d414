"""The day's cut-off: every receipt still unmatched when its business day ends goes back
to its payer through the channel, and the run writes a report of what and why.

Each receipt walks persisted steps (due -> moved_back -> refund_requested -> reported), and
each step is safe to repeat: ledger transfer ids are derived from the receipt, the refund
carries an idempotency key derived from it. So a run that crashes anywhere resumes by
running again, and a second run changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from paycore.channels.model import BankAccount
from paycore.clock import Clock
from paycore.custody import store, store_runs
from paycore.custody.cutoff_outcome import (
    OUTCOME,
    PAYBACK_METADATA_KEY,
    RefundOutcomes,
    refund_key,
)
from paycore.custody.model import (
    CUTOFF_REFUND_REASON,
    CustodyBank,
    CutoffRun,
    CutoffStep,
    Receipt,
    ReceiptOrigin,
    ReceiptStatus,
    ReportLine,
    business_date_of,
    day_end,
    needs_attention,
)
from paycore.custody.report_file import write_report
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.payments.service import Payments, PayoutCommand, RefundCommand
from paycore.platform.db import WRITER
from paycore.security.crypto import CipherError

log = logging.getLogger(__name__)

CUTOFF_RECEIPTS_MAX = 10_000
"""Receipts one run walks; more stay for the next tick's run of the same day."""
RECENT_DAYS_MAX = 500
_OPEN_STEPS = (CutoffStep.DUE, CutoffStep.MOVED_BACK, CutoffStep.REFUND_REQUESTED)


class CutoffJob:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        payments: Payments,
        report_dir: Path,
        bank_of: Callable[[str], CustodyBank],
        after_step: Callable[[str], None],
        payer_of: Callable[[Receipt], BankAccount],
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._payments = payments
        self._report_dir = report_dir
        self._bank_of = bank_of
        self._after_step = after_step
        self._payer_of = payer_of
        self.outcomes = RefundOutcomes(
            engine=engine,
            ledger=ledger,
            clock=clock,
            payments=payments,
            bank_of=bank_of,
            advance=self._advance,
            settle_run=self._settle_run,
        )

    def run(self, bank: CustodyBank, business_date: date) -> CutoffRun:
        now = self._clock.now()
        if now < day_end(bank, business_date):
            raise Rejected(
                "business_day_not_ended",
                f"{business_date} at {bank.name} ends {day_end(bank, business_date).isoformat()}",
            )
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            before = store_runs.get_run(conn, bank=bank.name, business_date=business_date)
            store_runs.start_run(conn, bank=bank.name, business_date=business_date, now=now)
            marked = store.mark_due(conn, bank=bank.name, business_date=business_date, now=now)
        self._after_step("due")
        pending = self._pending(bank, business_date)
        if before is not None and before.status == "completed" and not marked and not pending:
            return before  # a second run: nothing to do, nothing changes
        for receipt in pending:
            self._advance(bank, receipt)
        self.follow_refunds()  # also those a crash left between their report and outcome
        self._settle_run(bank, business_date)
        self._after_step("finished")
        return self.report(bank, business_date)

    def _settle_run(self, bank: CustodyBank, business_date: date) -> None:
        """Rewrite the report from its lines and record the run's status: `completed` once
        no receipt of the day is still being sent back (each is paid or handed to a
        person), else `incomplete`. Called whenever lines change, not only by `run`."""
        with self._engine.connect() as conn:
            lines = store_runs.report_lines(conn, bank=bank.name, business_date=business_date)
            left = store.open_refunds(conn, bank=bank.name, business_date=business_date)
        path = write_report(self._report_dir, bank, business_date, lines)
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store_runs.finish_run(
                conn,
                bank=bank.name,
                business_date=business_date,
                now=self._clock.now(),
                path=str(path),
                status="incomplete" if left else "completed",
            )

    def report(self, bank: CustodyBank, business_date: date) -> CutoffRun:
        with self._engine.connect() as conn:
            run = store_runs.get_run(conn, bank=bank.name, business_date=business_date)
        if run is None:
            raise Rejected("cutoff_run_not_found", f"no cut-off of {bank.name} on {business_date}")
        return run

    def due_days(self, bank: CustodyBank, now: datetime) -> list[date]:
        """Yesterday, unless its run completed, any earlier day still holding unmatched or
        half-refunded receipts (a pay-in swept in late, a crashed run), and any day whose
        run is not completed yet (a refund on its way, or to try again)."""
        today = business_date_of(bank, now)
        yesterday = today - timedelta(days=1)
        with self._engine.connect() as conn:
            run = store_runs.get_run(conn, bank=bank.name, business_date=yesterday)
            left = store.list_receipts(
                conn,
                bank=bank.name,
                before_date=today,
                statuses=[ReceiptStatus.UNMATCHED, ReceiptStatus.REFUNDING],
                limit=RECENT_DAYS_MAX,
            )
            unfinished = store_runs.unfinished_days(conn, bank=bank.name, limit=RECENT_DAYS_MAX)
        days = {r.business_date for r in left if r.status is ReceiptStatus.UNMATCHED}
        days |= {r.business_date for r in left if r.cutoff_step in _OPEN_STEPS}
        days |= {day for day in unfinished if day < today}
        if run is None or run.status != "completed":
            days.add(yesterday)
        return sorted(days)

    # -- one receipt --------------------------------------------------------------------------

    def _pending(self, bank: CustodyBank, business_date: date) -> list[Receipt]:
        with self._engine.connect() as conn:
            return store.list_receipts(
                conn,
                bank=bank.name,
                business_date=business_date,
                steps=_OPEN_STEPS,
                limit=CUTOFF_RECEIPTS_MAX,
            )

    def _advance(self, bank: CustodyBank, receipt: Receipt) -> None:
        step = receipt.cutoff_step
        if step is CutoffStep.DUE:
            if not self._move_back(bank, receipt):
                return
            step = CutoffStep.MOVED_BACK
        if step is CutoffStep.MOVED_BACK:
            if not self._request_refund(bank, receipt):
                return
            step = CutoffStep.REFUND_REQUESTED
        if step is CutoffStep.REFUND_REQUESTED:
            self._report_line(bank, receipt.id)
        self.outcomes.follow(receipt.id)

    def _move_back(self, bank: CustodyBank, receipt: Receipt) -> bool:
        problem = self.outcomes.move(receipt, "back")
        self._after_step("moved_back_posted")
        if problem is not None:  # the next run tries again, under the next attempt's id
            log.warning("custody cut-off cannot move %s back: %s", receipt.id, problem)
            return False
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.update_receipt(
                conn,
                receipt.id,
                now=self._clock.now(),
                expect_step=CutoffStep.DUE,
                cutoff_step=CutoffStep.MOVED_BACK,
                error=None,
            )
        self._after_step("moved_back")
        return True

    def _request_refund(self, bank: CustodyBank, receipt: Receipt) -> bool:
        refund_id = self._create_refund(bank, receipt)
        if refund_id is None:
            return False
        self._after_step("refund_created")
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            store.update_receipt(
                conn,
                receipt.id,
                now=self._clock.now(),
                expect_step=CutoffStep.MOVED_BACK,
                # An order of an older attempt (a worker that read the receipt before a
                # retry) never replaces the newer one.
                expect_refund_attempt=receipt.refund_attempt,
                cutoff_step=CutoffStep.REFUND_REQUESTED,
                refund_id=refund_id,
                error=None,
            )
        self._after_step("refund_requested")
        return True

    def _create_refund(self, bank: CustodyBank, receipt: Receipt) -> str | None:
        """The refund's id. Asking again after a crash is safe: payments answers a known
        idempotency key with its first answer."""
        key = refund_key(receipt)
        try:
            if receipt.origin is ReceiptOrigin.STATEMENT:  # no pay-in: a payout to the payer
                try:
                    payer = self._payer_of(receipt)
                except (CipherError, ValueError) as error:  # a retired key, say: by hand
                    raise Rejected("payer_unreadable", type(error).__name__) from None
                created = self._payments.create_payout(
                    PayoutCommand(
                        merchant_id=receipt.merchant_id,
                        amount=receipt.amount,
                        currency=receipt.currency,
                        beneficiary=payer,
                        description=CUTOFF_REFUND_REASON,
                        metadata={PAYBACK_METADATA_KEY: receipt.id},
                    ),
                    idempotency_key=key,
                )
            else:
                created = self._payments.create_refund(
                    RefundCommand(
                        merchant_id=receipt.merchant_id,
                        payin_id=receipt.id,
                        amount=receipt.amount,
                        reason=CUTOFF_REFUND_REASON,
                    ),
                    idempotency_key=key,
                )
        except Rejected as error:
            if error.code == "request_in_progress":  # another worker is asking right now,
                # or one died asking: the run stays incomplete until the lease is over
                log.info("custody cut-off refund of %s still being asked for", receipt.id)
                return None
            self._refused(bank, receipt, error.code)
            return None
        if created.status_code >= 400:  # a refusal stored under this key stays the answer
            self._refused(bank, receipt, str(created.body.get("code", "refund_refused")))
            return None
        return str(created.body["id"])

    def _refused(self, bank: CustodyBank, receipt: Receipt, code: str) -> None:
        """Payments refused the refund for good (e.g. the merchant refunded the pay-in
        itself): the money goes back into the sub-account and the receipt ends
        `refund_failed`, reported with the reason, for operations to settle by hand."""
        log.warning("custody cut-off refund of %s refused: %s", receipt.id, code)
        if not self.outcomes.return_to_custody(receipt):
            return
        now = self._clock.now()
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if not store.update_receipt(
                conn,
                receipt.id,
                now=now,
                expect_step=CutoffStep.MOVED_BACK,
                expect_refund_attempt=receipt.refund_attempt,
                cutoff_step=CutoffStep.REPORTED,
                status=ReceiptStatus.REFUND_FAILED,
                error=code,
            ):
                return
            line = ReportLine(
                receipt_id=receipt.id,
                owner=receipt.owner,
                amount=receipt.amount,
                currency=receipt.currency,
                received_at=receipt.received_at,
                reason=f"unmatched at the {bank.cutoff} cut-off ({bank.timezone})",
                refund_id=None,
                outcome=needs_attention(code),
            )
            store_runs.add_report_line(conn, line, bank=bank.name, day=receipt.business_date)

    def _report_line(self, bank: CustodyBank, receipt_id: str) -> None:
        with self._engine.connect() as conn:
            receipt = store.get_receipt(conn, receipt_id)
        if receipt is None or receipt.refund_id is None:  # pragma: no cover - set one step ago
            return
        refund = self._payments.get(merchant_id=None, order_id=receipt.refund_id)
        line = ReportLine(
            receipt_id=receipt.id,
            owner=receipt.owner,
            amount=receipt.amount,
            currency=receipt.currency,
            received_at=receipt.received_at,
            reason=f"unmatched at the {bank.cutoff} cut-off ({bank.timezone})",
            refund_id=receipt.refund_id,
            outcome=OUTCOME.get(refund.status, f"refund_{refund.status.value}"),
        )
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if store.update_receipt(
                conn,
                receipt.id,
                now=self._clock.now(),
                expect_step=CutoffStep.REFUND_REQUESTED,
                expect_refund_id=receipt.refund_id,
                cutoff_step=CutoffStep.REPORTED,
            ):
                store_runs.add_report_line(conn, line, bank=bank.name, day=receipt.business_date)
        self._after_step("reported")

    # -- the refund's outcome (cutoff_outcome.py) ---------------------------------------------

    def follow_refunds(self) -> None:
        self.outcomes.follow_all()

    def apply_refund_outcome(self, receipt_id: str) -> None:
        self.outcomes.apply(receipt_id)
