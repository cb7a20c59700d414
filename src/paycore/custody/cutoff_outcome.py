"""The cut-off refund's outcome: what becomes of a receipt once its refund (or, for a
`statement` receipt, its payback payout) exists.

Paid: the receipt is `refunded`. Recorded but never sent (the process died before or
during the bank call): sent again under its own reference once the idempotency lease is
over (`Payments.send_recorded`; the bank answers a reference it holds with that
transaction, so it never pays twice). Failed without reaching the bank (never received,
no channel up): a new order under the next key, PLATFORM_PAYMENT_TRIES_MAX in all, one
PLATFORM_PAYMENT_RETRY_AFTER_S after the other. Anything else, or the last try: the money
goes back into the sub-account and the line says `needs_attention:<why>` for a person.
Every change of a line rewrites the report and settles the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import Engine

from paycore.clock import Clock
from paycore.custody import store, store_runs
from paycore.custody.bookkeeping import (
    into_custody,
    ledger_problem,
    out_of_custody,
    receipt_transfer_id,
    subaccount_id,
)
from paycore.custody.model import (
    CustodyBank,
    CutoffStep,
    Receipt,
    ReceiptOrigin,
    ReceiptStatus,
    needs_attention,
)
from paycore.errors import Rejected
from paycore.ledger.service import Ledger
from paycore.limits import PLATFORM_PAYMENT_RETRY_AFTER_S, PLATFORM_PAYMENT_TRIES_MAX
from paycore.payments import bookkeeping as books
from paycore.payments.model import Order, OrderKind, OrderStatus, never_reached_bank
from paycore.payments.service import Payments
from paycore.platform.db import WRITER

log = logging.getLogger(__name__)

FOLLOW_MAX = 10_000
"""Open cut-off refunds one pass follows; the rest wait for the next tick."""
OUTCOME = {
    OrderStatus.SUCCEEDED: "refunded",
    OrderStatus.FAILED: "refund_failed",
    OrderStatus.RETURNED: "refund_failed",  # a statement receipt's payout came back
}
_MONEY_BACK = (OrderStatus.FAILED, OrderStatus.RETURNED)
PAYBACK_METADATA_KEY = "custody_receipt"
"""On a statement receipt's payback (a payout): the receipt it pays back."""


def refund_key(receipt: Receipt) -> str:
    """The idempotency key of the receipt's refund (payout) order: one per attempt."""
    base = f"custody-cutoff:{receipt.id}"
    return base if receipt.refund_attempt == 0 else f"{base}:retry{receipt.refund_attempt}"


def _retrying(failed: Order) -> str:
    return f"retrying:{failed.failure.code if failed.failure else 'refund_failed'}"


class RefundOutcomes:
    def __init__(
        self,
        *,
        engine: Engine,
        ledger: Ledger,
        clock: Clock,
        payments: Payments,
        bank_of: Callable[[str], CustodyBank],
        advance: Callable[[CustodyBank, Receipt], None],
        settle_run: Callable[[CustodyBank, date], None],
    ) -> None:
        self._engine = engine
        self._ledger = ledger
        self._clock = clock
        self._payments = payments
        self._bank_of = bank_of
        self._advance = advance
        self._settle_run = settle_run
        # A payback's outcome at once, and above all its return: a payout may come back
        # days after it succeeded, long after follow_all stopped looking at it.
        payments.on_final(self._on_payback_final)

    def follow_all(self) -> None:
        """Apply the outcome of every cut-off refund still open (the durable side of the
        listener on refund finals): send what a crash left unsent, try again what failed
        without reaching the bank, and settle the runs whose lines changed."""
        with self._engine.connect() as conn:
            open_ones = store.list_receipts(
                conn,
                statuses=[ReceiptStatus.REFUNDING],
                steps=[CutoffStep.REFUND_REQUESTED, CutoffStep.REPORTED],
                limit=FOLLOW_MAX,
            )
        changed = {(r.bank, r.business_date) for r in open_ones if self.follow(r.id)}
        for bank_name, day in sorted(changed):
            self._settle_run(self._bank_of(bank_name), day)

    def apply(self, receipt_id: str) -> None:
        """The refund's outcome on its receipt and its line (from the refund's final
        listener). The report and the run are settled here when this line was the day's
        last open one, or the run had completed; else by the tick's run of the unfinished
        day a few seconds later (rewriting a 10,000-line report on each of 10,000 refund
        callbacks would cost far more than the money is worth waiting for)."""
        if not self.follow(receipt_id):
            return
        with self._engine.connect() as conn:
            receipt = store.get_receipt(conn, receipt_id)
            if receipt is None:
                return
            left = store.open_refunds(conn, bank=receipt.bank, business_date=receipt.business_date)
            status = store_runs.run_status(
                conn, bank=receipt.bank, business_date=receipt.business_date
            )
        if left == 0 or status == "completed":
            self._settle_run(self._bank_of(receipt.bank), receipt.business_date)

    def follow(self, receipt_id: str) -> bool:
        """Refunded; or sent again when a crash left it unsent; or, failed without reaching
        the bank, tried again with a new order (PLATFORM_PAYMENT_TRIES_MAX in all); or
        else the money goes back into the sub-account (the failed refund released it to
        the merchant wallet) for a person to settle. True when the receipt's line changed."""
        with self._engine.connect() as conn:
            receipt = store.get_receipt(conn, receipt_id)
        if receipt is None or receipt.refund_id is None:
            return False
        if receipt.status is ReceiptStatus.REFUNDED:
            return self._apply_return(receipt)
        if receipt.status is not ReceiptStatus.REFUNDING or receipt.cutoff_step not in (
            CutoffStep.REFUND_REQUESTED,
            CutoffStep.REPORTED,
        ):
            return False  # not yet asked for (or being asked for again): `_advance` owns it
        refund = self._send_unsent(receipt)
        if refund is None or refund.status not in OUTCOME:
            return False
        if never_reached_bank(refund) and receipt.refund_attempt + 1 < PLATFORM_PAYMENT_TRIES_MAX:
            waited = self._clock.now() - (refund.finished_at or refund.updated_at)
            if waited >= timedelta(seconds=PLATFORM_PAYMENT_RETRY_AFTER_S):
                return self._try_again(receipt, refund)
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                # A later tick tries again; until then the line says so.
                return store_runs.set_line_outcome(conn, receipt.id, _retrying(refund))
        if refund.status in _MONEY_BACK and not self.return_to_custody(receipt):
            return False
        outcome = OUTCOME[refund.status]
        if refund.status in _MONEY_BACK:
            outcome = needs_attention(refund.failure.code if refund.failure else outcome)
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if not store.update_receipt(
                conn,
                receipt.id,
                now=self._clock.now(),
                expect_status=ReceiptStatus.REFUNDING,
                expect_refund_id=refund.id,
                status=ReceiptStatus(OUTCOME[refund.status]),
                error=refund.failure.code if refund.failure else None,
            ):
                return False
            store_runs.set_line_outcome(conn, receipt.id, outcome)
        return True

    def _send_unsent(self, receipt: Receipt) -> Order | None:
        """The receipt's refund, sent first if a crash left it recorded but never answered.
        None while the first request may still be running (the run stays incomplete)."""
        refund = self._payments.get(merchant_id=None, order_id=receipt.refund_id or "")
        if refund.status is not OrderStatus.CREATED:
            return refund
        try:
            return self._payments.send_recorded(refund.id, idempotency_key=refund_key(receipt))
        except Rejected as error:
            if error.code == "request_in_progress":
                return None
            log.warning("custody cut-off refund %s not sent again: %s", refund.id, error.code)
            return self._payments.get(merchant_id=None, order_id=refund.id)

    def _try_again(self, receipt: Receipt, failed: Order) -> bool:
        """A new refund order for a receipt whose refund never reached the bank. The failed
        one released its hold (the money is in the merchant wallet, as after `moved_back`);
        the new one, under the next key, holds it again. Compare-and-set on the attempt, so
        two workers never both start one."""
        code = failed.failure.code if failed.failure else "refund_failed"
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if not store.update_receipt(
                conn,
                receipt.id,
                now=self._clock.now(),
                expect_status=ReceiptStatus.REFUNDING,
                expect_refund_id=failed.id,
                expect_refund_attempt=receipt.refund_attempt,
                cutoff_step=CutoffStep.MOVED_BACK,
                refund_attempt=receipt.refund_attempt + 1,
                error=code,
            ):
                return False
            store_runs.set_line_outcome(conn, receipt.id, _retrying(failed))
        log.warning(
            "custody cut-off refund %s of %s failed (%s): trying again",
            failed.id,
            receipt.id,
            code,
        )
        with self._engine.connect() as conn:
            fresh = store.get_receipt(conn, receipt.id)
        if fresh is not None:
            self._advance(self._bank_of(fresh.bank), fresh)
        return True

    def _on_payback_final(self, order: Order) -> None:
        receipt_id = order.metadata.get(PAYBACK_METADATA_KEY)
        if order.kind is OrderKind.PAYOUT and receipt_id:  # the receipt names its payback
            self.apply(str(receipt_id))

    def _apply_return(self, receipt: Receipt) -> bool:
        """A statement receipt's payback came back after it had succeeded. The return
        credited the merchant's wallet, but the money is the payer's: it goes back into the
        sub-account and the receipt ends `refund_failed`, for operations to settle."""
        if receipt.origin is not ReceiptOrigin.STATEMENT or receipt.refund_id is None:
            return False
        payback = self._payments.get(merchant_id=None, order_id=receipt.refund_id)
        if payback.status is not OrderStatus.RETURNED or not self.return_to_custody(receipt):
            return False
        with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
            if not store.update_receipt(
                conn,
                receipt.id,
                now=self._clock.now(),
                expect_status=ReceiptStatus.REFUNDED,
                status=ReceiptStatus.REFUND_FAILED,
                error="payback_returned",
            ):
                return False
            store_runs.set_line_outcome(conn, receipt.id, needs_attention("payback_returned"))
        return True

    def return_to_custody(self, receipt: Receipt) -> bool:
        return self.move(receipt, "ret") is None

    def move(self, receipt: Receipt, step: str) -> str | None:
        """Move the receipt's money out of custody into the merchant wallet (`back`) or
        into custody again (`ret`): the ledger's refusal, or None. A refused id stays
        failed in the ledger, so the receipt's next move takes the next attempt."""
        bank = self._bank_of(receipt.bank)
        legs_of = out_of_custody if step == "back" else into_custody
        legs = legs_of(
            bank,
            transfer_id=receipt_transfer_id(receipt.id, step, receipt.move_attempt),
            wallet=books.wallet_account(receipt.merchant_id, receipt.currency),
            subaccount=subaccount_id(bank, receipt.merchant_id, receipt.owner),
            amount=receipt.amount,
            meta={"receipt_id": receipt.id, "merchant_id": receipt.merchant_id},
        )
        problem = ledger_problem(self._ledger.create_transfers(legs))
        if problem is not None:
            with self._engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.update_receipt(
                    conn,
                    receipt.id,
                    now=self._clock.now(),
                    move_attempt=receipt.move_attempt + 1,
                    error=problem,
                )
        return problem
