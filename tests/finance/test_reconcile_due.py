"""What the worker reconciles and when: a day is reconciled once none of its vouchers
waits to be pushed (a voucher the finance system refused has finished pushing, and its
break shows), and a finance system that cannot answer is recorded and asked again later
without stopping the worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from paycore.clock import ManualClock
from paycore.finance import store
from paycore.finance.model import body_hash_of, voucher_body
from paycore.finance.receiver_client import FinanceReceiverClient
from paycore.finance.reconcile import RECON_UNAVAILABLE_RETRY_S
from paycore.finance.service import Finance
from paycore.runtime import Runtime
from tests.finance.conftest import SEEDED_DAY, Shop, after_day
from tests.finance.conftest_push import Harness, free_port, open_harness

REFUND = "vch_20261130_refund_CNY"


@pytest.fixture
def harness(runtime: Runtime, clock: ManualClock, tmp_path: Path) -> Iterator[Harness]:
    yield from open_harness(runtime.engine, clock, tmp_path)


@pytest.fixture
def down() -> Iterator[FinanceReceiverClient]:
    """A client of a finance system that does not answer (nothing listens on the port)."""
    with FinanceReceiverClient(f"http://127.0.0.1:{free_port()}", secret=b"s" * 32) as client:
        yield client


@pytest.fixture
def pushed(seeded_day: Shop, harness: Harness) -> Finance:
    """The seeded day derived, the refund voucher booked at the finance system beforehand
    under another body, then every voucher pushed: the refund is refused (409)."""
    after_day(harness.clock)
    finance = Finance(harness.engine, harness.clock, booked=harness.client().booked)
    finance.derive_due()
    other = voucher_body(finance.voucher(REFUND).voucher)
    other["summary"] = "booked by hand at the finance system"
    assert harness.client().push({**other, "body_hash": body_hash_of(other)}).booked
    report = harness.relay().push_all()
    assert (report.acked, report.rejected) == (5, 1)
    return finance


def test_a_day_with_a_voucher_the_receiver_refused_is_reconciled_and_shows_the_break(
    pushed: Finance,
) -> None:
    assert pushed.voucher(REFUND).push_status == "rejected"

    found = pushed.reconcile_due()

    assert [(r.business_date, r.status) for r in found] == [(SEEDED_DAY, "breaks")]
    assert [(b["kind"], b["voucher_id"]) for b in found[0].breaks] == [("body_mismatch", REFUND)]
    assert pushed.reconciliation(SEEDED_DAY).breaks == found[0].breaks


def test_a_day_with_a_voucher_still_pending_is_not_reconciled(
    seeded_day: Shop, harness: Harness
) -> None:
    after_day(harness.clock)
    finance = Finance(harness.engine, harness.clock, booked=harness.client().booked)
    finance.derive_due()
    harness.relay(batch_max=5).push_due()  # 5 of the day's 6 vouchers

    assert finance.reconcile_due() == []
    harness.relay().push_due()
    assert [r.status for r in finance.reconcile_due()] == ["ok"]


def test_the_worker_records_a_finance_system_that_cannot_answer_and_asks_again_later(
    pushed: Finance, harness: Harness, down: FinanceReceiverClient
) -> None:
    asks = pushed.booked
    pushed.booked = down.booked

    found = pushed.reconcile_due()  # no exception: the worker goes on

    assert [(r.status, r.receiver_checked, r.breaks) for r in found] == [("unavailable", False, ())]
    assert "finance_receiver_unavailable" in found[0].error
    recorded = pushed.reconciliation(SEEDED_DAY)
    assert (recorded.status, recorded.error) == ("unavailable", found[0].error)
    pushed.booked = asks
    assert pushed.reconcile_due() == []  # not at once: later
    harness.clock.advance(RECON_UNAVAILABLE_RETRY_S + 1)
    again = pushed.reconcile_due()
    assert [(r.status, r.receiver_checked, r.error) for r in again] == [("breaks", True, "")]


def test_a_finance_system_that_cannot_answer_still_shows_the_ledgers_breaks(
    pushed: Finance, down: FinanceReceiverClient
) -> None:
    pushed.booked = down.booked
    with pushed.engine.begin() as conn:
        lines = store.voucher_lines
        conn.execute(delete(lines).where(lines.c.voucher_id == "vch_20261130_fee_CNY"))

    [found] = pushed.reconcile_due()

    assert found.status == "unavailable"
    assert {b["kind"] for b in found.breaks} == {"voucher_altered", "amount_mismatch"}
