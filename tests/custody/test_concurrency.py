"""`paycore serve --workers N` runs the custody tick in every worker process: they land
the same missed pay-ins and run the same cut-off at the same moment. Each worker here is
a Runtime of its own (own engine, own ledger), like a process; they race on PostgreSQL.
Every unmatched receipt is refunded once, and no worker's tick fails."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from paycore.clock import ManualClock
from paycore.custody.model import ReceiptStatus, RestTo
from paycore.errors import Rejected
from paycore.payments.model import OrderStatus
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.conftest import postgres_only
from tests.custody.conftest import Desk
from tests.custody.test_cutoff import DAY, MIDNIGHT, refunds_of
from tests.payments.fakes import succeeded

WORKERS = 4


@pytest.fixture
def workers(
    database_url: str,
    runtime: Runtime,
    clock: ManualClock,
    field_cipher: FieldCipher,
    tmp_path: Path,
) -> Iterator[list[Runtime]]:
    built = [
        Runtime.build(
            Settings(
                database_url=database_url,
                expiry_interval_s=1.0,
                data_dir=str(tmp_path / "var"),
                custody_file=str(tmp_path / "custody.json"),  # the runtime fixture's banks
            ),
            clock=clock,
            channels=runtime.channels,
            cipher=field_cipher,
            query_schedule_s=(60, 300),
        )
        for _ in range(WORKERS)
    ]
    yield built
    for worker in built:
        worker.close()


def race(work: Callable[[Runtime], Any], workers: list[Runtime]) -> list[BaseException]:
    """Every worker does `work` at the same moment; returns what they raised."""
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def one(worker: Runtime) -> None:
        start.wait()
        try:
            work(worker)
        except BaseException as error:  # returned to the test
            errors.append(error)

    threads = [threading.Thread(target=one, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@postgres_only
def test_workers_running_the_same_cutoff_at_once_refund_each_unmatched_receipt_once(
    desk: Desk, workers: list[Runtime]
) -> None:
    custody = desk.runtime.custody
    listeners = list(desk.runtime.payments.ctx.after_final)
    desk.runtime.payments.ctx.after_final.clear()  # lost: only the workers' sweeps land them
    unmatched = [desk.pay(f"buyer-{i}", 10_000 + i) for i in range(6)]
    desk.runtime.payments.ctx.after_final.extend(listeners)
    kept = desk.pay("buyer-kept", 50_000)
    deal = custody.create_deal(
        desk.merchant_id,
        bank="sandbox_custody",
        buyer="buyer-kept",
        seller="seller-1",
        agency="agency-1",
        deposit_amount=50_000,
    )
    custody.match(desk.merchant_id, receipt_id=kept, deal_id=deal.id)
    desk.clock.advance(1)

    landing_errors = race(lambda w: w.custody.tick(), workers)

    assert landing_errors == []
    assert all(desk.receipt(r).status is ReceiptStatus.UNMATCHED for r in unmatched)
    desk.move_to(MIDNIGHT + timedelta(seconds=1))
    desk.alpha.then(*(succeeded() for _ in unmatched))

    cutoff_errors = race(lambda w: w.custody.tick(), workers)
    cutoff_errors += race(lambda w: w.custody.tick(), workers)

    assert cutoff_errors == []
    for payin_id in unmatched:
        [refund_id] = refunds_of(desk.runtime, payin_id)
        refund = desk.runtime.payments.get(merchant_id=None, order_id=refund_id)
        assert refund.status is OrderStatus.SUCCEEDED
        assert desk.receipt(payin_id).status is ReceiptStatus.REFUNDED
        assert desk.balance(desk.receipt(payin_id).owner) == 0
    assert refunds_of(desk.runtime, kept) == []
    assert desk.balance("buyer-kept") == 50_000
    report = custody.cutoff_report("sandbox_custody", DAY)
    assert sorted(line.receipt_id for line in report.lines) == sorted(unmatched)
    assert report.status == "completed"
    assert custody.daily_check("sandbox_custody", DAY).ok
    assert desk.runtime.ledger.check().ok


@postgres_only
def test_closes_of_one_deal_with_different_terms_at_once_move_one_set_and_record_it(
    desk: Desk, workers: list[Runtime]
) -> None:
    payin = desk.pay("buyer-1", 100_000)
    desk.pay("buyer-1", 100_000)  # more in the buyer's sub-account than this deal's deposit
    custody = desk.runtime.custody
    deal = custody.create_deal(
        desk.merchant_id,
        bank="sandbox_custody",
        buyer="buyer-1",
        seller="seller-1",
        agency="agency-1",
        deposit_amount=100_000,
    )
    custody.match(desk.merchant_id, receipt_id=payin, deal_id=deal.id)
    commissions = iter(range(1_000, 1_000 * (WORKERS + 1), 1_000))
    terms = {id(w): next(commissions) for w in workers}

    def close(worker: Runtime) -> None:
        worker.custody.close_deal(
            desk.merchant_id, deal_id=deal.id, commission=terms[id(worker)], rest_to=RestTo.SELLER
        )

    errors = race(close, workers)

    closed = custody.get_deal(desk.merchant_id, deal.id)
    assert closed.status == "closed" and closed.commission in terms.values()
    assert desk.balance("agency-1") == closed.commission
    assert desk.balance("seller-1") == 100_000 - closed.commission
    assert desk.balance("buyer-1") == 100_000
    codes = {error.code for error in errors if isinstance(error, Rejected)}
    assert len(errors) == WORKERS - 1 and codes <= {"deal_close_in_progress", "deal_already_closed"}
    assert desk.runtime.ledger.check().ok
