"""A drill's traffic and its after-checks on money: pay-ins of one drill merchant through the
real payments service, and what the ledger, the flow check and the banks say afterwards.

The banks' check is the chaos test's, in-process: every pay-in the drill made is final;
each one that succeeded was paid by exactly one bank, the one its order names; and every
pay-in a bank paid is a succeeded order (nothing lost, nothing moved twice).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from paycore.channels.model import Payer
from paycore.consistency.service import FlowCheck
from paycore.errors import Rejected
from paycore.ops.drill_bank import DrillBank
from paycore.ops.drills import Verdict
from paycore.payments.model import OrderStatus
from paycore.payments.service import PayinCommand
from paycore.runtime import Runtime

PAYIN_AMOUNT_MINOR = 10_000
PAYIN_CURRENCY = "CNY"
PAYIN_PRODUCT = "rent"
DRILL_CARD = "6222021234567890123"
"""A test card number (never a real customer's); the payer is made up."""


@dataclass(slots=True)
class Traffic:
    """Pay-ins of one merchant; `made` keeps each order id, `refused` each refusal code."""

    runtime: Runtime
    merchant_id: str
    made: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _serial: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_drill(cls, runtime: Runtime, drill: str) -> Traffic:
        merchant, _secret = runtime.merchants.create(name=f"Drill {drill}")
        return cls(runtime, merchant.id)

    def payin(self) -> str | None:
        """One pay-in; its status, or None if it was refused (the code is kept)."""
        with self._lock:
            self._serial += 1
            key = f"drill-{self.merchant_id}-{self._serial}"
        command = PayinCommand(
            merchant_id=self.merchant_id,
            product=PAYIN_PRODUCT,
            amount=PAYIN_AMOUNT_MINOR,
            currency=PAYIN_CURRENCY,
            payer=Payer(card_number=DRILL_CARD, name="Drill Payer"),
            description="drill",
        )
        try:
            created = self.runtime.payments.create_payin(command, idempotency_key=key)
        except Rejected as refusal:
            with self._lock:
                self.refused.append(refusal.code)
            return None
        with self._lock:
            self.made.append(str(created.body["id"]))
        return str(created.body["status"])

    def payins(self, count: int) -> list[str | None]:
        return [self.payin() for _ in range(count)]

    def payins_in_background(
        self, pool: ThreadPoolExecutor, count: int
    ) -> list[Future[str | None]]:
        return [pool.submit(self.payin) for _ in range(count)]

    def statuses(self) -> dict[str, OrderStatus]:
        payments = self.runtime.payments
        return {
            order_id: payments.get(merchant_id=None, order_id=order_id).status
            for order_id in self.made
        }


def ledger_verdict(runtime: Runtime) -> Verdict:
    report = runtime.ledger.check()
    detail = f"{report.accounts_checked} accounts balance"
    return Verdict("ledger", report.ok, detail if report.ok else "; ".join(report.problems[:3]))


def flows_verdict(runtime: Runtime) -> Verdict:
    report = FlowCheck(runtime.engine, runtime.clock).run()
    if report.ok:
        return Verdict("flows", True, "every flow agrees with the ledger")
    first = "; ".join(str(d) for d in report.disagreements[:3])
    return Verdict("flows", False, f"{report.found} disagreements: {first}")


def banks_verdict(traffic: Traffic, banks: Sequence[DrillBank]) -> Verdict:
    """Each drill pay-in final; paid once, by the bank its order names; none lost."""
    statuses = traffic.statuses()
    paid_by: dict[str, list[str]] = {}
    for bank in banks:
        for reference in bank.paid():
            paid_by.setdefault(reference, []).append(bank.name)
    problems = [f"{oid} still {s}" for oid, s in statuses.items() if not _final(s)]
    problems += [f"{ref} paid by {names}" for ref, names in paid_by.items() if len(names) > 1]
    succeeded = {oid for oid, s in statuses.items() if s is OrderStatus.SUCCEEDED}
    problems += [f"{oid} succeeded, no bank paid it" for oid in succeeded - paid_by.keys()]
    ours = set(statuses)
    problems += [
        f"{ref} paid by the bank, order {statuses[ref]}"
        for ref in paid_by.keys() & ours
        if ref not in succeeded
    ]
    if problems:
        return Verdict("banks", False, f"{len(problems)} problems: " + "; ".join(problems[:3]))
    return Verdict("banks", True, f"{len(succeeded)} pay-ins paid once each, none lost")


def _final(status: OrderStatus) -> bool:
    return status in (OrderStatus.SUCCEEDED, OrderStatus.FAILED, OrderStatus.CLOSED)
