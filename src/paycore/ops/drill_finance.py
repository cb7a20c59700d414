"""finance-db-failure (the seed: 16 finance records not pushed after a database write
failed): a business day of pay-ins is closed and its vouchers derived; the push relay
pushes them to the sandbox finance receiver (in-process, its own database) while every
write that marks a voucher pushed fails (drill_faults.FailingWrites).

The receiver books the first voucher; its "pushed" write fails; the lease runs out and the
relay pushes it again, answered `duplicate`; the write fails again... for FAILURE_S. The
finance-push-behind detector opens an incident once vouchers wait longer than its
threshold. The failure stops: the relay marks every voucher pushed, the day reconciles
against the ledger and the receiver with 0 missing, the receiver booked each voucher
exactly once, and the incident closes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from paycore.bills.model import bill_day_of, day_period
from paycore.finance.push import FinancePush
from paycore.finance.receiver_client import FinanceReceiverClient
from paycore.finance.service import DERIVE_GRACE_S, Finance
from paycore.ops.drill_faults import FailingWrites
from paycore.ops.drill_sandbox import Sandbox
from paycore.ops.drill_traffic import Traffic
from paycore.ops.drills import Driver, Verdict
from paycore.sandbox_finance.api import create_finance_app
from paycore.sandbox_finance.keys import read_secret
from paycore.sandbox_finance.service import FinanceReceiver, ReceiverConfig

TICK_S = 15
"""The drill's step: its fault lasts tens of minutes of the drill's clock."""
PAYINS = 16
FAILURE_S = 1200
"""How long the writes fail, from the fault's injection (20 minutes of a database
failover or a full disk)."""
RECEIVER_URL = "http://sandbox-finance"


@dataclass(frozen=True, slots=True)
class FinanceSide:
    finance: Finance
    push: FinancePush
    receiver: FinanceReceiver


@contextmanager
def finance_side(box: Sandbox, data_dir: Path) -> Iterator[FinanceSide]:
    """The finance service, its push relay and the sandbox receiver, all in-process."""
    app = create_finance_app(ReceiverConfig(data_dir=data_dir))
    with TestClient(app, base_url=RECEIVER_URL) as http:
        secret = read_secret(data_dir)
        client = FinanceReceiverClient(RECEIVER_URL, secret=secret, http=http)
        finance = Finance.for_runtime(box.runtime, booked=client.booked)
        push = FinancePush(box.runtime.engine, client, clock=box.clock)
        yield FinanceSide(finance, push, app.state.receiver)


def run(driver: Driver, box: Sandbox, traffic: Traffic, data_dir: Path) -> None:
    with finance_side(box, data_dir) as side:
        day = _open_day(box, side.finance)
        traffic.payins(PAYINS)
        _close_day(box, day)
        derived = [r for r in side.finance.derive_due() if r.business_date == day]
        voucher_ids = [v for r in derived for v in r.voucher_ids]
        driver.note(f"day {day} closed: {len(voucher_ids)} vouchers derived")
        writes = FailingWrites(
            box.runtime.engine, table="finance_vouchers", column="push_status", value="pushed"
        )
        try:
            writes.on = True
            driver.fault("every write marking a voucher pushed fails")
            driver.beside_tick.append(lambda: _push(side))
            driver.await_incidents()
            fault_at = driver.timeline.fault_at or box.clock.now()
            end = fault_at + timedelta(seconds=FAILURE_S)
            driver.tick_until(lambda: box.clock.now() >= end, within_s=FAILURE_S)
            writes.on = False
            driver.timeline.facts.update(vouchers=len(voucher_ids), writes_failed=writes.failed)
            driver.recover(f"the writes succeed again ({writes.failed} failed)")
            driver.await_closed()
        finally:
            writes.remove()
            driver.beside_tick.clear()
        driver.timeline.verdicts.append(finance_verdict(side, day, voucher_ids))


def _first_open_day(box: Sandbox, finance: Finance) -> date:
    """Today, or (on a database where an earlier drill derived today already) the first day
    after the derived ones: the day the drill's money lands in."""
    day = bill_day_of(box.clock.now())
    while finance.vouchers(day):
        day += timedelta(days=1)
    return day


def _open_day(box: Sandbox, finance: Finance) -> date:
    """The drill's business day (`_first_open_day`), its clock moved into it if need be."""
    day = _first_open_day(box, finance)
    start = day_period(day).start
    if start > box.clock.now():
        box.clock.advance((start - box.clock.now()).total_seconds() + 1)
    return day


def _close_day(box: Sandbox, day: date) -> None:
    """Move the drill's clock past the day's end and the derivation grace."""
    derive_at: datetime = day_period(day).end + timedelta(seconds=DERIVE_GRACE_S + 1)
    box.clock.advance((derive_at - box.clock.now()).total_seconds())


def _push(side: FinanceSide) -> None:
    side.push.push_due()


def finance_verdict(side: FinanceSide, day: date, voucher_ids: list[str]) -> Verdict:
    """The day reconciles with the ledger and the receiver, and the receiver booked each
    voucher once (any duplicates it answered booked nothing)."""
    if not voucher_ids:
        return Verdict("finance", False, f"no voucher was derived for {day}")
    recon = side.finance.reconcile_day(day)
    receipts = side.receiver.receipts()
    booked = {v: receipts.get(v, {}).get("booked", 0) for v in voucher_ids}
    twice = sorted(v for v, n in booked.items() if n > 1)
    missing = sorted(v for v, n in booked.items() if n == 0)
    duplicates = sum(receipts.get(v, {}).get("duplicate", 0) for v in voucher_ids)
    problems = [str(b) for b in recon.breaks[:3]]
    problems += [f"{v} booked twice" for v in twice[:3]]
    problems += [f"{v} never booked" for v in missing[:3]]
    if not recon.ok or twice or missing:
        return Verdict("finance", False, "; ".join(problems) or recon.status)
    return Verdict(
        "finance",
        True,
        f"{day}: {len(voucher_ids)} vouchers reconciled, 0 missing, each booked once "
        f"({duplicates} duplicate pushes answered without booking)",
    )


def day_after(box: Sandbox, data_dir: Path) -> Verdict:
    """After a drill of another kind: its day closed, derived, pushed to a sandbox receiver
    without faults, and reconciled against the ledger and the receiver."""
    with finance_side(box, data_dir) as side:
        _close_day(box, _first_open_day(box, side.finance))
        derived = side.finance.derive_due()
        side.push.push_all()
        problems: list[str] = []
        vouchers = 0
        for result in derived:
            vouchers += len(result.voucher_ids)
            recon = side.finance.reconcile_day(result.business_date)
            problems += [f"{result.business_date}: {b}" for b in recon.breaks[:3]]
    if problems:
        return Verdict("finance", False, "; ".join(problems[:3]))
    days = ", ".join(str(r.business_date) for r in derived) or "no day"
    return Verdict("finance", True, f"{days}: {vouchers} vouchers pushed and reconciled")
