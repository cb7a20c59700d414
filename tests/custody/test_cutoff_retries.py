"""The cut-off's refunds are never lost: one a crash left unsent is sent on the rerun, one
that failed without reaching the bank is tried again with a new order, the last try hands
it to a person; a run is completed only when every line is paid or handed over, its
status never goes back, and its report follows its lines."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from paycore import limits
from paycore.channels.model import ChannelUnavailable, PayoutRequest
from paycore.custody import store_runs
from paycore.custody.model import ReceiptStatus
from paycore.payments.model import Order, OrderKind, OrderStatus
from paycore.platform.db import WRITER
from paycore.runtime import Runtime
from tests.custody.conftest import SHANGHAI, Desk
from tests.custody.test_statement_money import PAYER, _buyer, _camt, _credit, _import_and_run
from tests.payments.fakes import succeeded

DAY = date(2026, 3, 10)
MIDNIGHT = datetime(2026, 3, 11, 0, 0, 0, tzinfo=SHANGHAI)


class Crash(Exception):
    """Stands for the process dying at that point."""


def refunds_of(runtime: Runtime, payin_id: str) -> list[Order]:
    orders = runtime.payments.list_orders(
        merchant_id=None, kind=OrderKind.REFUND, parent_id=payin_id
    )
    return sorted(orders, key=lambda o: o.created_at)


def refund_calls(desk: Desk) -> list[str]:
    return [reference for operation, reference in desk.alpha.calls if operation == "refund"]


def crash_before_the_bank_call(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the cut-off and die after the refund order is recorded (and held), before the
    channel is called."""

    def die(*_args: Any, **_kwargs: Any) -> Any:
        raise Crash("before the bank call")

    monkeypatch.setattr(desk.runtime.payments._steps, "dispatch", die)
    with pytest.raises(Crash):
        desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    monkeypatch.undo()


def report_rows(run_path: str | None) -> list[dict[str, str]]:
    assert run_path is not None
    with Path(run_path).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_refund_left_unsent_by_a_crash_is_sent_by_the_rerun_once_the_lease_is_over(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    payin = desk.pay("buyer-1", 10_000)
    desk.move_to(MIDNIGHT)
    crash_before_the_bank_call(desk, monkeypatch)

    inside_lease = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    desk.clock.advance(61)
    desk.alpha.then(succeeded())
    after_lease = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    assert inside_lease.status == "incomplete" and not inside_lease.is_complete
    [refund] = refunds_of(desk.runtime, payin)
    assert refund.status is OrderStatus.SUCCEEDED
    assert refund_calls(desk) == [refund.id]  # sent once, by the rerun
    assert after_lease.status == "completed" and after_lease.is_complete
    assert [line.outcome for line in after_lease.lines] == ["refunded"]
    assert desk.receipt(payin).status is ReceiptStatus.REFUNDED
    assert desk.balance("buyer-1") == 0
    assert desk.runtime.ledger.check().ok


def test_a_refund_the_janitor_fails_as_never_received_is_tried_again_and_paid_once(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    payin = desk.pay("buyer-1", 10_000)
    desk.move_to(MIDNIGHT)
    crash_before_the_bank_call(desk, monkeypatch)
    desk.clock.advance(301)  # nobody reran it in time: the janitor asks the bank, which
    desk.runtime.janitor.sweep()  # has never heard of it, and fails it
    [failed] = refunds_of(desk.runtime, payin)
    assert failed.status is OrderStatus.FAILED and failed.failure is not None
    assert failed.failure.code == "not_received"
    waiting = desk.runtime.custody.cutoff_report("sandbox_custody", DAY)

    desk.clock.advance(limits.PLATFORM_PAYMENT_RETRY_AFTER_S)
    desk.alpha.then(succeeded())
    desk.runtime.custody.tick()
    desk.runtime.custody.tick()

    run = desk.runtime.custody.cutoff_report("sandbox_custody", DAY)
    first, second = refunds_of(desk.runtime, payin)
    assert waiting.status != "completed"  # the crashed run never finished
    assert (first.status, second.status) == (OrderStatus.FAILED, OrderStatus.SUCCEEDED)
    assert refund_calls(desk) == [second.id]
    assert desk.receipt(payin).status is ReceiptStatus.REFUNDED
    assert (run.status, [line.refund_id for line in run.lines]) == ("completed", [second.id])
    assert desk.runtime.payments.get(merchant_id=None, order_id=payin).refunded_amount == 10_000
    assert desk.balance("buyer-1") == 0
    assert desk.runtime.ledger.check().ok


def test_a_refund_that_never_reaches_the_bank_is_handed_to_a_person_after_the_last_try(
    desk: Desk,
) -> None:
    payin = desk.pay("buyer-1", 10_000)
    desk.move_to(MIDNIGHT)
    down = [ChannelUnavailable("alpha", "down") for _ in range(limits.PLATFORM_PAYMENT_TRIES_MAX)]
    desk.alpha.then(*down)

    runs = [desk.runtime.custody.run_cutoff("sandbox_custody", DAY)]
    for _ in range(limits.PLATFORM_PAYMENT_TRIES_MAX):
        desk.clock.advance(limits.PLATFORM_PAYMENT_RETRY_AFTER_S)
        desk.runtime.custody.tick()
    desk.clock.advance(limits.PLATFORM_PAYMENT_RETRY_AFTER_S)
    desk.runtime.custody.tick()  # nothing more is tried

    run = desk.runtime.custody.cutoff_report("sandbox_custody", DAY)
    refunds = refunds_of(desk.runtime, payin)
    assert runs[0].status == "incomplete"
    assert len(refunds) == limits.PLATFORM_PAYMENT_TRIES_MAX
    assert {r.status for r in refunds} == {OrderStatus.FAILED}
    assert desk.receipt(payin).status is ReceiptStatus.REFUND_FAILED
    assert desk.balance("buyer-1") == 10_000  # back in custody for a person to settle
    assert [line.outcome for line in run.lines] == ["needs_attention:all_channels_unavailable"]
    assert run.status == "completed" and run.is_complete
    assert [row["outcome"] for row in report_rows(run.report_path)] == [
        "needs_attention:all_channels_unavailable"
    ]
    assert desk.runtime.ledger.check().ok


def test_the_report_file_and_the_runs_status_follow_refunds_that_finish_later(
    desk: Desk,
) -> None:
    payins = [desk.pay("buyer-1", 10_000), desk.pay("buyer-2", 20_000)]
    desk.move_to(MIDNIGHT)
    run = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)  # the bank accepts both
    before = report_rows(run.report_path)
    first, second = (desk.receipt(p).refund_id or "" for p in payins)
    payments = desk.runtime.payments

    payments.settler.apply(payments.get(merchant_id=None, order_id=first), succeeded())
    desk.runtime.custody.tick()  # the next tick rewrites the report of the unfinished day
    halfway = desk.runtime.custody.cutoff_report("sandbox_custody", DAY)
    halfway_rows = report_rows(halfway.report_path)
    payments.settler.apply(payments.get(merchant_id=None, order_id=second), succeeded())
    after = desk.runtime.custody.cutoff_report("sandbox_custody", DAY)  # the last: at once

    assert run.status == "incomplete"
    assert [row["outcome"] for row in before] == ["refund_processing"] * 2
    assert halfway.status == "incomplete"
    assert [row["outcome"] for row in halfway_rows] == [
        "refunded",
        "refund_processing",
    ]
    assert after.status == "completed"
    assert [row["outcome"] for row in report_rows(after.report_path)] == ["refunded"] * 2
    assert {desk.receipt(p).status for p in payins} == {ReceiptStatus.REFUNDED}


def test_a_completed_run_is_never_taken_back_by_a_run_that_saw_less(desk: Desk) -> None:
    desk.move_to(MIDNIGHT)
    desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    engine = desk.runtime.engine

    with engine.connect().execution_options(**WRITER) as conn, conn.begin():
        store_runs.finish_run(
            conn,
            bank="sandbox_custody",
            business_date=DAY,
            now=desk.clock.now(),
            path="stale.csv",
            status="incomplete",
        )

    assert desk.runtime.custody.cutoff_report("sandbox_custody", DAY).status == "completed"


def test_a_run_with_a_refund_on_its_way_is_driven_by_later_ticks(desk: Desk) -> None:
    payin = desk.pay("buyer-1", 10_000)
    desk.move_to(MIDNIGHT + timedelta(seconds=1))
    desk.runtime.custody.tick()  # runs the cut-off: the bank accepts the refund
    refund_id = desk.receipt(payin).refund_id
    assert refund_id is not None
    desk.alpha.truth[refund_id] = succeeded()  # the callback is lost; a query will tell

    desk.clock.advance(61)
    desk.runtime.janitor.sweep()
    desk.runtime.custody.tick()

    run = desk.runtime.custody.cutoff_report("sandbox_custody", DAY)
    assert desk.receipt(payin).status is ReceiptStatus.REFUNDED
    assert run.status == "completed" and run.is_complete


def test_a_statement_payback_left_unsent_by_a_crash_is_paid_once_to_the_same_payer(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    buyer = _buyer(desk, "buyer-9")
    _import_and_run(desk, _camt(tmp_path / "camt.xml", [_credit(1, 9_000, buyer.virtual_account)]))
    [surplus] = desk.runtime.recon.list_breaks()
    receipt_id = f"stm_brk{surplus['id']}"
    desk.move_to(MIDNIGHT)
    crash_before_the_bank_call(desk, monkeypatch)

    desk.clock.advance(61)
    desk.alpha.then(succeeded())
    run = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)

    receipt = desk.runtime.custody.get_receipt(desk.merchant_id, receipt_id)
    payouts = [
        o
        for o in desk.runtime.payments.list_orders(merchant_id=None, kind=OrderKind.PAYOUT)
        if o.metadata.get("custody_receipt") == receipt_id
    ]
    [payout] = payouts
    assert payout.status is OrderStatus.SUCCEEDED
    sent = [ref for op, ref in desk.alpha.calls if op == "payout"]
    assert sent == [payout.id]
    request = desk.alpha.requests[payout.id]
    assert isinstance(request, PayoutRequest)
    assert request.beneficiary.account_number == PAYER.account_number
    assert receipt.status is ReceiptStatus.REFUNDED
    assert run.status == "completed" and [x.outcome for x in run.lines] == ["refunded"]
    assert desk.balance("buyer-9") == 0
    assert desk.runtime.ledger.check().ok
