"""A day of traffic, compressed: pay-ins, then partial refunds, then end-of-day payouts.

Every order goes through `Payments` exactly as an API request would, from a pool of
threads, each with its own idempotency key. The janitor then queries back whatever the
bank left unanswered, until every order of the run has its result.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from typing import Any

from rich.progress import Progress, TaskID

from paycore import limits
from paycore.demo.customers import (
    CURRENCY,
    MERCHANTS,
    PlannedPayin,
    beneficiary,
    refund_share,
    split_amount,
)
from paycore.errors import Rejected
from paycore.payments.model import Order, OrderKind, OrderStatus, is_resolved
from paycore.payments.service import Created, PayinCommand, PayoutCommand, RefundCommand
from paycore.runtime import Runtime

log = logging.getLogger(__name__)

REFUND_RATE = 0.06
"""Of the paid pay-ins, how many get a partial refund; some of those a second one."""
SECOND_REFUND_RATE = 0.2
PAYINS_PER_PAYOUT = 25
SETTLE_POLL_S = 0.5
CALLBACKS_GRACE_S = 0.5
"""After the pay-ins, a moment for the last callbacks to land before choosing refunds."""

Job = Callable[[], Created]


class Traffic:
    """Sends orders from `threads` threads and remembers what came of them."""

    def __init__(self, runtime: Runtime, *, run_tag: str, threads: int, progress: Progress) -> None:
        self.runtime = runtime
        self.payments = runtime.payments
        self.run_tag = run_tag
        self.threads = threads
        self.progress = progress
        self.started_at: datetime = runtime.clock.now()
        self.order_ids: set[str] = set()
        self.refused: Counter[str] = Counter()
        self.first_answers: Counter[str] = Counter()  # final | later | unknown
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._sent = 0

    # -- sending ------------------------------------------------------------------------

    def run(self, label: str, jobs: Sequence[Job]) -> None:
        task = self.progress.add_task(label, total=len(jobs))
        with ThreadPoolExecutor(self.threads, thread_name_prefix="demo") as pool:
            futures = [pool.submit(self._one, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    future.result()
                    self.progress.advance(task)
            except BaseException:  # Ctrl-C: drop what has not started instead of waiting
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def _one(self, job: Job) -> None:
        try:
            created = job()
        except Rejected as refusal:  # e.g. insufficient_balance: the merchant's failure
            with self._lock:
                self.refused[refusal.code] += 1
            return
        except Exception as error:  # a bug: shown in red at the end, not hidden
            log.exception("demo order failed")
            with self._lock:
                self.errors.append(f"{type(error).__name__}: {error}")
            return
        with self._lock:
            if created.status_code >= 400:
                self.refused[str(created.body.get("code", "refused"))] += 1
                return
            self.order_ids.add(str(created.body["id"]))
            self.first_answers[_first_answer(created.body)] += 1

    def key(self, kind: str) -> str:
        """A new idempotency key (a client would reuse it on each retry of one order)."""
        with self._lock:
            self._sent += 1
            return f"demo-{self.run_tag}-{kind}-{self._sent}"

    # -- the day ------------------------------------------------------------------------

    def payins(self, plans: Iterable[PlannedPayin]) -> None:
        def job(plan: PlannedPayin) -> Job:
            command = PayinCommand(
                merchant_id=plan.merchant_id,
                product=plan.product,
                amount=plan.amount,
                currency=CURRENCY,
                payer=plan.payer,
                description=plan.description,
                metadata={"source": "paycore demo"},
            )
            return lambda: self.payments.create_payin(command, idempotency_key=self.key("payin"))

        self.run("pay-ins", [job(plan) for plan in plans])

    def refunds(self, rng: random.Random) -> None:
        """Partial refunds of some paid pay-ins; a few get a second one, sent at once so
        the two race for the refundable amount."""
        paid = [o for o in self.orders(OrderKind.PAYIN) if o.status is OrderStatus.SUCCEEDED]
        jobs: list[Job] = []
        for payin in rng.sample(paid, k=round(len(paid) * REFUND_RATE)):
            first = max(1, int(payin.amount * refund_share(payin.product, rng)))
            jobs.append(self._refund(payin, first, "partial refund"))
            rest = payin.amount - first
            if rest > 1 and rng.random() < SECOND_REFUND_RATE:
                jobs.append(self._refund(payin, rest // 2, "second partial refund"))
        self.run("refunds", jobs)

    def _refund(self, payin: Order, amount: int, reason: str) -> Job:
        command = RefundCommand(
            merchant_id=payin.merchant_id, payin_id=payin.id, amount=amount, reason=reason
        )
        return lambda: self.payments.create_refund(command, idempotency_key=self.key("refund"))

    def payouts(self, rng: random.Random, payin_count: int) -> None:
        """End of day: each merchant pays out a share of what it has available, in a few
        payouts to landlords, suppliers or its own account."""
        jobs: list[Job] = []
        per_merchant = max(1, payin_count // PAYINS_PER_PAYOUT // len(MERCHANTS))
        for merchant in MERCHANTS:
            available = sum(
                b["available"]
                for b in self.payments.balances(merchant.id)
                if b["currency"] == CURRENCY
            )
            total = int(available * merchant.payout_share)
            if total <= 0:
                continue
            for amount in split_amount(total, per_merchant, rng):
                command = PayoutCommand(
                    merchant_id=merchant.id,
                    amount=amount,
                    currency=CURRENCY,
                    beneficiary=beneficiary(rng),
                    description=rng.choice(merchant.payout_descriptions),
                )
                jobs.append(self._payout(command))
        self.run("payouts", jobs)

    def _payout(self, command: PayoutCommand) -> Job:
        return lambda: self.payments.create_payout(command, idempotency_key=self.key("payout"))

    # -- results ------------------------------------------------------------------------

    def orders(self, kind: OrderKind | None = None) -> list[Order]:
        """This run's orders as they stand now, read back newest first."""
        kinds = [kind] if kind is not None else list(OrderKind)
        since = self.started_at - timedelta(seconds=1)
        with self._lock:
            wanted = set(self.order_ids)
        found: list[Order] = []
        for merchant in MERCHANTS:
            for each in kinds:
                found += self._page_back(merchant.id, each, wanted, since)
        return found

    def _page_back(
        self, merchant_id: str, kind: OrderKind, wanted: set[str], since: datetime
    ) -> list[Order]:
        found: list[Order] = []
        after = None
        while True:
            page = self.payments.list_orders(
                merchant_id=merchant_id, kind=kind, limit=limits.ORDERS_PAGE_MAX, after=after
            )
            found += [o for o in page if o.id in wanted]
            if len(page) < limits.ORDERS_PAGE_MAX or page[-1].created_at < since:
                return found
            after = page[-1].id

    def settle(self, *, timeout_s: float) -> list[Order]:
        """Run the janitor until every order of the run has its result (or time runs out);
        returns the orders as they end."""
        task: TaskID = self.progress.add_task("results (janitor queries unknowns)", total=None)
        deadline = time.monotonic() + timeout_s
        while True:
            orders = self.orders()
            done = sum(1 for o in orders if is_resolved(o.status))
            self.progress.update(task, total=len(orders), completed=done)
            if done == len(orders) or time.monotonic() > deadline:
                return orders
            self.runtime.janitor.sweep()
            time.sleep(SETTLE_POLL_S)


def _first_answer(view: Mapping[str, Any]) -> str:
    if view.get("result_unknown"):
        return "unknown"
    return "later" if view.get("status") in ("created", "processing") else "final"
