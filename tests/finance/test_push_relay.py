"""The push relay against the receiver in this process: every pending voucher is booked
exactly once whatever the receiver or the database does meanwhile."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.finance.push import PUSH_BACKOFF_MAX_S, PUSH_LEASE_S
from paycore.finance.store_push import push_state
from tests.finance.conftest_push import (
    BUSINESS_DATE,
    Harness,
    insert_pending,
    open_harness,
    voucher_document,
)


@pytest.fixture
def harness(engine: Engine, clock: ManualClock, tmp_path: Path) -> Iterator[Harness]:
    yield from open_harness(engine, clock, tmp_path)


def states(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {row.id: row for row in push_state(conn)}


def pending(harness: Harness, count: int) -> list[dict[str, Any]]:
    documents = [voucher_document(i) for i in range(count)]
    insert_pending(harness.engine, documents, at=harness.clock.now())
    return documents


def assert_booked_exactly_once(harness: Harness, documents: list[dict[str, Any]]) -> None:
    """Booked with their hashes, one `booked` receipt each, and marked pushed here with the
    receiver's ref."""
    assert harness.booked() == {d["id"]: d["body_hash"] for d in documents}
    receipts = harness.receipts()
    assert {voucher: counts.get("booked", 0) for voucher, counts in receipts.items()} == {
        d["id"]: 1 for d in documents
    }
    refs = {
        row["voucher_id"]: row["receiver_ref"] for row in harness.receiver.booked(BUSINESS_DATE)
    }
    here = states(harness.engine)
    assert {v: (s.push_status, s.receiver_ref) for v, s in here.items()} == {
        v: ("pushed", ref) for v, ref in refs.items()
    }


def test_every_pending_voucher_is_pushed_once_and_marked_with_the_receivers_ref(
    harness: Harness,
) -> None:
    documents = pending(harness, 5)
    report = harness.relay().push_all()
    assert (report.claimed, report.acked, report.duplicates) == (5, 5, 0)
    assert harness.relay().push_due().claimed == 0
    assert_booked_exactly_once(harness, documents)
    assert {s.push_attempts for s in states(harness.engine).values()} == {1}


def test_a_claim_leases_at_most_the_batch_and_the_rest_stays_for_the_next(
    harness: Harness,
) -> None:
    pending(harness, 12)
    relay = harness.relay(batch_max=5)

    assert [len(relay.claim(harness.clock.now())[1]) for _ in range(4)] == [5, 5, 2, 0]


def test_a_receiver_down_for_a_while_gets_everything_once_it_is_up(harness: Harness) -> None:
    documents = pending(harness, 4)
    harness.faults(down_rate=1)
    relay = harness.relay(batch_max=2)
    for _ in range(3):  # down: each round backs off; nothing is booked
        relay.push_all()
        harness.clock.advance(PUSH_BACKOFF_MAX_S)
    assert harness.receipts() == {}  # nothing reached it
    assert {s.push_status for s in states(harness.engine).values()} == {"pending"}
    assert all(s.last_error.startswith("http_503") for s in states(harness.engine).values()
               if s.push_attempts)  # fmt: skip
    harness.faults(down_rate=0)
    harness.clock.advance(PUSH_BACKOFF_MAX_S)
    relay.push_all()
    assert_booked_exactly_once(harness, documents)


def test_a_failed_push_is_not_due_again_before_its_backoff(harness: Harness) -> None:
    pending(harness, 1)
    harness.faults(down_rate=1)
    relay = harness.relay()
    assert relay.push_due().retried == 1
    harness.faults(down_rate=0)
    assert relay.push_due().claimed == 0  # the clock has not moved
    harness.clock.advance(PUSH_BACKOFF_MAX_S)
    assert relay.push_due().acked == 1


def test_a_500_after_storing_is_retried_answered_duplicate_and_booked_once(
    harness: Harness,
) -> None:
    documents = pending(harness, 3)
    harness.faults(fail_after_store_rate=1)
    first = harness.relay().push_all()
    assert (first.retried, first.acked) == (1, 0)  # the batch stops at the first failure
    harness.faults(fail_after_store_rate=0)
    harness.clock.advance(PUSH_BACKOFF_MAX_S)
    again = harness.relay().push_all()
    assert (again.duplicates, again.acked) == (1, 2)
    assert_booked_exactly_once(harness, documents)
    assert harness.receipts()[documents[0]["id"]] == {"booked": 1, "duplicate": 1}


def test_a_double_acknowledgement_counts_as_one_booking(harness: Harness) -> None:
    documents = pending(harness, 3)
    harness.faults(double_ack_rate=1)
    report = harness.relay().push_all()
    assert (report.acked, report.duplicates, report.lost_leases) == (3, 0, 0)
    assert_booked_exactly_once(harness, documents)


def test_a_voucher_booked_with_another_body_is_rejected_and_never_retried(
    harness: Harness,
) -> None:
    original = voucher_document(0)
    harness.client().push({**voucher_document(0, amount_minor=7)})  # booked elsewhere first
    insert_pending(harness.engine, [original], at=harness.clock.now())
    relay = harness.relay()
    assert relay.push_due().rejected == 1
    harness.clock.advance(PUSH_BACKOFF_MAX_S * 10)
    assert relay.push_due().claimed == 0
    state = states(harness.engine)[original["id"]]
    assert (state.push_status, state.push_attempts) == ("rejected", 1)
    assert state.last_error.startswith("http_409: voucher_conflict")
    assert relay.backlog(overdue_s=0).rejected == 1
    with pytest.raises(Rejected):
        relay.requeue("vch_never_derived")
    relay.requeue(original["id"])  # a person looked: push it again, it is refused again
    assert relay.push_due().rejected == 1
    assert states(harness.engine)[original["id"]].push_attempts == 2


def test_the_push_resumes_after_the_write_marking_a_voucher_pushed_fails(
    harness: Harness,
) -> None:
    """The seed's incident: a database write fails in the middle of a push batch."""
    documents = pending(harness, 6)
    marks = {"count": 0}

    @event.listens_for(harness.engine, "before_cursor_execute")
    def fail_third_mark(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if (
            statement.startswith("UPDATE finance_vouchers SET push_status")
            and "pushed_at=" in statement
        ):
            marks["count"] += 1
            if marks["count"] == 3:
                raise OperationalError(
                    statement, None, Exception("disk I/O error while marking pushed")
                )

    report = harness.relay().push_all()
    assert (report.acked, report.unrecorded, report.released) == (2, 1, 3)
    assert len(harness.booked()) == 3  # the third was booked; only our record of it failed
    event.remove(harness.engine, "before_cursor_execute", fail_third_mark)
    harness.relay().push_all()  # the three released ones; the third is still leased
    assert len([s for s in states(harness.engine).values() if s.push_status == "pushed"]) == 5
    harness.clock.advance(PUSH_LEASE_S)
    resumed = harness.relay().push_all()
    assert (resumed.duplicates, resumed.acked) == (1, 0)
    assert_booked_exactly_once(harness, documents)
    assert harness.relay().backlog(overdue_s=0).pending == 0


def test_two_relays_at_once_push_each_voucher_exactly_once(harness: Harness) -> None:
    documents = pending(harness, 40)
    relays = [harness.relay(batch_max=3), harness.relay(batch_max=3)]
    start = threading.Barrier(len(relays))
    claimed = [0, 0]

    def drain(index: int) -> None:
        start.wait()
        while (report := relays[index].push_due()).claimed:
            claimed[index] += report.claimed

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(relays))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(claimed) == len(documents)
    assert_booked_exactly_once(harness, documents)
    assert all(counts == {"booked": 1} for counts in harness.receipts().values())


def test_a_voucher_whose_lines_no_longer_hash_to_its_body_hash_is_never_pushed(
    harness: Harness,
) -> None:
    document = voucher_document(0)
    insert_pending(harness.engine, [{**document, "summary": "edited after derivation"}],
                   at=harness.clock.now())  # fmt: skip
    assert harness.relay().push_due().rejected == 1
    assert harness.booked() == {}
    assert states(harness.engine)[document["id"]].last_error == "local_body_hash_mismatch"


def test_the_worker_loop_pushes_what_becomes_due_until_stopped(harness: Harness) -> None:
    documents = pending(harness, 3)
    stop = threading.Event()
    worker = threading.Thread(target=harness.relay().run, args=(stop, 0.01))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while len(harness.booked()) < len(documents) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()
    assert_booked_exactly_once(harness, documents)


def test_under_a_random_mix_of_every_fault_each_voucher_ends_booked_exactly_once(
    harness: Harness,
) -> None:
    """The receiver down, failing after storing and acknowledging twice, and one in five
    writes marking a voucher pushed failing, all at random (seeded): pushed until nothing
    is pending, every voucher is booked once and marked pushed with its receiver ref."""
    documents = pending(harness, 30)
    harness.faults(down_rate=0.2, fail_after_store_rate=0.2, double_ack_rate=0.2)
    draw = random.Random(14)

    @event.listens_for(harness.engine, "before_cursor_execute")
    def fail_some_marks(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        marking = statement.startswith("UPDATE finance_vouchers SET push_status")
        if marking and "pushed_at=" in statement and draw.random() < 0.2:
            raise OperationalError(
                statement, None, Exception("disk I/O error while marking pushed")
            )

    relays = [harness.relay(batch_max=4), harness.relay(batch_max=7)]
    for round_no in range(200):
        relays[round_no % 2].push_all()
        if relays[0].backlog(overdue_s=0).pending == 0:
            break
        harness.clock.advance(PUSH_LEASE_S + PUSH_BACKOFF_MAX_S)
    event.remove(harness.engine, "before_cursor_execute", fail_some_marks)
    assert_booked_exactly_once(harness, documents)
    receipts = harness.receipts().values()
    assert sum(counts.get("duplicate", 0) for counts in receipts) > 0  # the faults happened
