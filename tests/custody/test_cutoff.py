"""The day's cut-off around midnight Asia/Shanghai: boundaries, reruns, crashes, reports."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from paycore.custody.model import ReceiptStatus
from paycore.errors import Rejected
from paycore.payments.model import OrderKind, OrderStatus
from paycore.payments.service import RefundCommand
from paycore.runtime import Runtime
from tests.custody.conftest import SHANGHAI, Desk
from tests.payments.conftest import fund_merchant
from tests.payments.fakes import declined, succeeded

DAY = date(2026, 3, 10)
LAST_MOMENT = datetime(2026, 3, 10, 23, 59, 59, 999_000, tzinfo=SHANGHAI)
MIDNIGHT = datetime(2026, 3, 11, 0, 0, 0, tzinfo=SHANGHAI)
STEPS = [
    "due",
    "moved_back_posted",
    "moved_back",
    "refund_created",
    "refund_requested",
    "reported",
    "finished",
]


class Crash(Exception):
    """Stands for the process dying at that point."""


def refunds_of(runtime: Runtime, payin_id: str) -> list[str]:
    orders = runtime.payments.list_orders(
        merchant_id=None, kind=OrderKind.REFUND, parent_id=payin_id
    )
    return [o.id for o in orders]


def refund_calls(desk: Desk) -> int:
    return sum(1 for operation, _ in desk.alpha.calls if operation == "refund")


def test_a_custody_payin_lands_in_its_payers_subaccount_once(desk: Desk) -> None:
    payin = desk.pay("buyer-1", 50_000)

    receipt = desk.receipt(payin)
    desk.runtime.custody.tick()  # the sweep finds it again: nothing more moves
    desk.runtime.custody.land(desk.runtime.payments.get(merchant_id=None, order_id=payin))

    assert receipt.status is ReceiptStatus.UNMATCHED
    assert (receipt.owner, receipt.amount, receipt.business_date) == ("buyer-1", 50_000, DAY)
    assert desk.balance("buyer-1") == 50_000
    assert desk.runtime.ledger.check().ok


def test_a_payin_the_listener_missed_is_landed_by_the_sweep(desk: Desk) -> None:
    listeners = list(desk.runtime.payments.ctx.after_final)
    desk.runtime.payments.ctx.after_final.clear()
    payin = desk.pay("buyer-1", 30_000)
    desk.runtime.payments.ctx.after_final.extend(listeners)

    with pytest.raises(Rejected):
        desk.receipt(payin)
    desk.runtime.custody.tick()

    assert desk.receipt(payin).status is ReceiptStatus.UNMATCHED
    assert desk.balance("buyer-1") == 30_000


def test_a_receipt_at_235959999_belongs_to_the_day_and_one_at_midnight_to_the_next(
    desk: Desk,
) -> None:
    desk.move_to(LAST_MOMENT)
    late = desk.pay("buyer-1", 10_000)
    desk.move_to(MIDNIGHT)
    early = desk.pay("buyer-2", 20_000)

    desk.alpha.then(succeeded())
    run = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    assert desk.receipt(late).business_date == DAY
    assert desk.receipt(early).business_date == DAY + timedelta(days=1)
    assert [line.receipt_id for line in run.lines] == [late]
    assert desk.receipt(late).status is ReceiptStatus.REFUNDED
    assert desk.receipt(early).status is ReceiptStatus.UNMATCHED
    assert (desk.balance("buyer-1"), desk.balance("buyer-2")) == (0, 20_000)


def test_the_cutoff_refuses_to_run_before_the_day_has_ended(desk: Desk) -> None:
    desk.pay("buyer-1", 10_000)
    desk.move_to(LAST_MOMENT)

    with pytest.raises(Rejected) as refused:
        desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    assert refused.value.code == "business_day_not_ended"
    assert desk.balance("buyer-1") == 10_000
    assert refund_calls(desk) == 0


def test_a_second_cutoff_run_changes_nothing(desk: Desk) -> None:
    payins = [desk.pay("buyer-1", 10_000), desk.pay("buyer-2", 25_000)]
    desk.move_to(MIDNIGHT)
    desk.alpha.then(succeeded(), succeeded())
    first = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    second = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    assert first == second
    assert first.status == "completed" and first.refunds == 2
    assert [len(refunds_of(desk.runtime, p)) for p in payins] == [1, 1]
    assert refund_calls(desk) == 2


def test_a_matched_receipt_stays_in_custody_at_the_cutoff(desk: Desk) -> None:
    payin = desk.pay("buyer-1", 10_000)
    deal = desk.runtime.custody.create_deal(
        desk.merchant_id,
        bank="sandbox_custody",
        buyer="buyer-1",
        seller="seller-1",
        agency="agency-1",
        deposit_amount=10_000,
    )
    desk.runtime.custody.match(desk.merchant_id, receipt_id=payin, deal_id=deal.id)
    desk.move_to(MIDNIGHT)

    run = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    assert run.lines == ()
    assert desk.receipt(payin).status is ReceiptStatus.MATCHED
    assert desk.balance("buyer-1") == 10_000


@pytest.mark.parametrize("step", STEPS)
def test_a_cutoff_that_crashes_after_any_step_resumes_without_double_or_missed_refunds(
    desk: Desk, step: str
) -> None:
    payins = [desk.pay(f"buyer-{n}", 10_000 * n) for n in (1, 2, 3)]
    desk.move_to(MIDNIGHT + timedelta(minutes=5))
    desk.alpha.then(succeeded(), succeeded(), succeeded())
    crashed: list[str] = []

    def crash_once(name: str) -> None:
        if name == step and not crashed:
            crashed.append(name)
            raise Crash(name)

    desk.runtime.custody._after_step = crash_once
    with pytest.raises(Crash):
        desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    run = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    assert [len(refunds_of(desk.runtime, p)) for p in payins] == [1, 1, 1]
    assert refund_calls(desk) == 3
    assert {desk.receipt(p).status for p in payins} == {ReceiptStatus.REFUNDED}
    assert [desk.balance(f"buyer-{n}") for n in (1, 2, 3)] == [0, 0, 0]
    assert sorted(line.receipt_id for line in run.lines) == sorted(payins)
    assert run.status == "completed"
    assert desk.runtime.ledger.check().ok


def test_a_cutoff_refund_that_fails_later_puts_the_money_back_into_the_subaccount(
    desk: Desk,
) -> None:
    payin = desk.pay("buyer-1", 10_000)
    desk.move_to(MIDNIGHT)
    run = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)  # the bank accepts, later...
    refund_id = run.lines[0].refund_id
    assert refund_id is not None and desk.receipt(payin).status is ReceiptStatus.REFUNDING
    assert desk.balance("buyer-1") == 0

    refund = desk.runtime.payments.get(merchant_id=None, order_id=refund_id)
    desk.runtime.payments.settler.apply(refund, declined("account_closed"))

    assert desk.runtime.payments.get(merchant_id=None, order_id=refund_id).status is (
        OrderStatus.FAILED
    )
    assert desk.receipt(payin).status is ReceiptStatus.REFUND_FAILED
    assert desk.balance("buyer-1") == 10_000
    report = desk.runtime.custody.cutoff_report("sandbox_custody", DAY)
    assert report.lines[0].outcome == "needs_attention:account_closed"
    assert desk.runtime.ledger.check().ok


def test_a_cutoff_refund_payments_refuses_ends_reported_with_the_money_back_in_custody(
    desk: Desk,
) -> None:
    payin = desk.pay("buyer-1", 10_000)
    fund_merchant(desk.runtime.ledger, desk.merchant_id, 10_000)
    desk.alpha.then(succeeded())  # the merchant refunds the pay-in itself, from its wallet
    desk.runtime.payments.create_refund(
        RefundCommand(merchant_id=desk.merchant_id, payin_id=payin, amount=10_000),
        idempotency_key="merchant-refund",
    )
    desk.move_to(MIDNIGHT)

    run = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    again = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    desk.runtime.custody.tick()

    receipt = desk.receipt(payin)
    assert (receipt.status, receipt.error) == (
        ReceiptStatus.REFUND_FAILED,
        "refund_exceeds_refundable",
    )
    assert desk.balance("buyer-1") == 10_000  # held in custody for operations to settle
    assert [line.outcome for line in run.lines] == ["needs_attention:refund_exceeds_refundable"]
    assert run.status == again.status == "completed" and again.lines == run.lines
    assert len(refunds_of(desk.runtime, payin)) == 1  # the merchant's own
    assert desk.runtime.ledger.check().ok


def test_tick_runs_yesterdays_cutoff_once_the_day_is_over(desk: Desk) -> None:
    payin = desk.pay("buyer-1", 10_000)
    desk.runtime.custody.tick()
    assert desk.receipt(payin).status is ReceiptStatus.UNMATCHED

    desk.move_to(MIDNIGHT + timedelta(seconds=2))
    desk.alpha.then(succeeded())
    desk.runtime.custody.tick()
    desk.runtime.custody.tick()

    assert desk.receipt(payin).status is ReceiptStatus.REFUNDED
    assert len(refunds_of(desk.runtime, payin)) == 1
    assert desk.runtime.custody.cutoff_report("sandbox_custody", DAY).status == "completed"


def test_the_cutoff_report_file_lists_each_refund_and_why(desk: Desk) -> None:
    payin = desk.pay("buyer-1", 12_345)
    desk.move_to(MIDNIGHT)
    desk.alpha.then(succeeded())

    run = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    assert run.report_path is not None
    with Path(run.report_path).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    row = rows[0]
    assert (row["receipt"], row["payer"], row["amount_minor"]) == (payin, "buyer-1", "12345")
    assert row["refund_id"] == run.lines[0].refund_id
    assert row["outcome"] == "refunded"
    assert "unmatched" in row["reason"]


def test_a_payin_landed_after_its_days_cutoff_ran_is_refunded_by_the_next_tick(
    desk: Desk,
) -> None:
    listeners = list(desk.runtime.payments.ctx.after_final)
    desk.runtime.payments.ctx.after_final.clear()  # the listener misses it (a crash)
    desk.move_to(LAST_MOMENT)
    payin = desk.pay("buyer-1", 10_000)
    desk.runtime.payments.ctx.after_final.extend(listeners)
    desk.move_to(MIDNIGHT)
    empty = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    assert (empty.status, empty.lines) == ("completed", ())

    desk.alpha.then(succeeded())
    desk.runtime.custody.tick()  # sweeps it in for DAY, and runs DAY's cut-off again

    assert desk.receipt(payin).business_date == DAY
    assert desk.receipt(payin).status is ReceiptStatus.REFUNDED
    assert len(refunds_of(desk.runtime, payin)) == 1
    assert desk.runtime.custody.cutoff_report("sandbox_custody", DAY).refunds == 1
