"""`paycore serve --workers N` runs the split tick in every worker process: several
processes sweep the same pay-ins and carry the same refunds on at once. Each worker here
is a Runtime of its own (own engine, own ledger), like a process; they race on PostgreSQL
row locks. Money must move once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paycore.clock import ManualClock
from paycore.payments.model import Order
from paycore.platform.config import Settings
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.split.model import Share, SplitStatus, split_id_for
from tests.conftest import postgres_only
from tests.payments.fakes import succeeded
from tests.split.conftest import Shop, fund_merchant

WORKERS = 4
PAYINS = 6


class Crash(Exception):
    pass


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
                database_url=database_url, expiry_interval_s=1.0, data_dir=str(tmp_path / f"w{i}")
            ),
            clock=clock,
            channels=runtime.channels,
            cipher=field_cipher,
            query_schedule_s=(60, 300),
        )
        for i in range(WORKERS)
    ]
    yield built
    for worker in built:
        worker.close()


def race(work: Callable[[Runtime], Any], workers: list[Runtime]) -> None:
    """Every worker does `work` at the same moment; any error fails the test."""
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def one(worker: Runtime) -> None:
        start.wait()
        try:
            work(worker)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@postgres_only
def test_workers_sweeping_and_refunding_at_once_split_and_claw_back_each_payin_once(
    shop: Shop,
    workers: list[Runtime],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop.open("alice", "bob")
    shop.rule(Share("alice", bps=3_000), Share("bob", amount=1_000), commission_bps=500)
    # The listener's call is lost for every pay-in: only the workers' sweeps split them.
    monkeypatch.setattr(shop.splits, "split_payin", lambda _payin: None)
    paid: list[Order] = [shop.pay(10_000 + 7 * i) for i in range(PAYINS)]
    monkeypatch.undo()
    clock.advance(2)

    race(lambda w: w.split.tick(), workers)

    bases = [p.amount - p.fee_amount for p in paid]
    alice = sum((b - 1_000) * 3_000 // 10_000 for b in bases)
    assert abs(shop.net("alice") - alice) < PAYINS  # one largest-remainder unit each at most
    assert shop.net("bob") == 1_000 * PAYINS
    for payin in paid:
        split = shop.splits.get(merchant_id=None, split_id=split_id_for(payin.id))
        assert (split.status, split.pending_op) == (SplitStatus.SETTLED, {})

    # Refunds clawed back, then the asking process died before payments heard of them.
    fund_merchant(shop.runtime.ledger, shop.merchant_id, 100_000)

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise Crash

    monkeypatch.setattr(shop.runtime.payments, "create_refund", crash)
    for payin in paid:
        with pytest.raises(Crash):
            shop.splits.refund(
                merchant_id=None,
                split_id=split_id_for(payin.id),
                amount=payin.amount,
                idempotency_key=f"back-{payin.id}",
            )
    monkeypatch.undo()
    assert (shop.net("alice"), shop.net("bob")) == (0, 0)
    shop.alpha.then(*(succeeded() for _ in paid))

    race(lambda w: w.split.tick(), workers)
    race(lambda w: w.split.tick(), workers)

    for payin in paid:
        [refund] = shop.splits.refunds_of(merchant_id=None, split_id=split_id_for(payin.id))
        assert refund["status"] == "refunded", refund
        order = shop.runtime.payments.get(merchant_id=None, order_id=payin.id)
        assert order.refunded_amount == payin.amount
    assert (shop.net("alice"), shop.net("bob")) == (0, 0)
    assert shop.runtime.ledger.check().ok
