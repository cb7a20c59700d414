"""The seed's incident, end to end: a real business day's vouchers derived from the
journal, pushed to the receiver while the database write that marks them pushed fails in
the middle of the batch. The push resumes and the day reconciles with nothing missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from paycore.clock import ManualClock
from paycore.finance.push import PUSH_LEASE_S
from paycore.finance.service import Finance
from paycore.runtime import Runtime
from tests.finance.conftest import SEEDED_DAY, Shop, after_day
from tests.finance.conftest_push import Harness, open_harness

FAILING_MARK = 3


@pytest.fixture
def harness(runtime: Runtime, clock: ManualClock, tmp_path: Path) -> Iterator[Harness]:
    yield from open_harness(runtime.engine, clock, tmp_path)


def fail_the_nth_mark(engine: Engine, nth: int) -> Any:
    """Make the `nth` write marking a voucher pushed fail, as a database error would."""
    marks = [0]

    def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE finance_vouchers SET push_status") and (
            "pushed_at=" in statement
        ):
            marks[0] += 1
            if marks[0] == nth:
                raise OperationalError(
                    statement, None, Exception("disk I/O error while marking a voucher pushed")
                )

    event.listen(engine, "before_cursor_execute", listener)
    return listener


def missing(finance: Finance) -> list[str]:
    breaks = finance.reconcile_day(SEEDED_DAY).breaks
    return [b["voucher_id"] for b in breaks if b["kind"] == "missing_at_receiver"]


def test_a_failed_write_in_the_middle_of_a_push_leaves_the_day_reconciled_with_0_missing(
    seeded_day: Shop, clock: ManualClock, harness: Harness
) -> None:
    after_day(clock)
    finance = Finance(harness.engine, clock, booked=harness.client().booked)
    derived = finance.derive_day(SEEDED_DAY).voucher_ids
    assert len(derived) > FAILING_MARK  # the failure is in the middle of the batch
    listener = fail_the_nth_mark(harness.engine, FAILING_MARK)

    failed = harness.relay().push_all()

    assert (failed.acked, failed.unrecorded) == (FAILING_MARK - 1, 1)
    unpushed = len(derived) - FAILING_MARK
    assert len(missing(finance)) == unpushed  # the third is booked; only our mark failed
    event.remove(harness.engine, "before_cursor_execute", listener)
    harness.relay().push_all()  # the released rest
    clock.advance(PUSH_LEASE_S)  # the failed mark's lease runs out: it is pushed again
    resumed = harness.relay().push_all()

    assert (resumed.duplicates, resumed.acked) == (1, 0)
    reconciliation = finance.reconcile_day(SEEDED_DAY)
    assert (reconciliation.status, reconciliation.breaks) == ("ok", ())
    assert harness.booked(SEEDED_DAY).keys() == set(derived)
    assert all(counts["booked"] == 1 for counts in harness.receipts().values())
    assert {r.push_status for r in finance.vouchers(SEEDED_DAY)} == {"pushed"}
