"""The finance worker `serve` runs: it derives finished days, then reconciles them once the
push relay has pushed every voucher, and stops when told."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import update

from paycore.finance import store
from paycore.finance.service import Finance
from tests.finance.conftest import SEEDED_DAY, FakeReceiver, Shop, after_day

DEADLINE_S = 10.0


def _eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_worker_derives_a_finished_day_and_reconciles_it_once_pushed(
    seeded_day: Shop, finance: Finance, receiver: FakeReceiver
) -> None:
    after_day(seeded_day.clock)
    stop = threading.Event()
    worker = threading.Thread(target=finance.run_worker, args=(stop, 0.01), daemon=True)
    worker.start()
    try:
        assert _eventually(lambda: len(finance.vouchers(SEEDED_DAY)) == 6)
        assert finance.reconciliation(SEEDED_DAY).status == "pending"  # nothing pushed yet
        receiver.book_all(finance, SEEDED_DAY)
        with finance.engine.begin() as conn:  # the push relay's part
            conn.execute(update(store.vouchers).values(push_status=store.PUSH_PUSHED))
        assert _eventually(lambda: finance.reconciliation(SEEDED_DAY).status == "ok")
    finally:
        stop.set()
        worker.join(timeout=DEADLINE_S)
    assert not worker.is_alive()
