"""The writer's safety nets: lock order, stale holds, poisoned groups, many callers at once."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from sqlalchemy import Connection, Engine, create_engine, update

from paycore.clock import ManualClock
from paycore.ledger import store, store_writer
from paycore.ledger.group_commit import GroupCommitter, Job
from paycore.ledger.model import TransferFlags, TransferRequest, TransferStatus
from paycore.ledger.posting import Posting
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import WRITER


def _open(ledger: Ledger, *ids: str) -> None:
    ledger.create_accounts([AccountRequest(id=i, currency="CNY") for i in ids])


def _pay(id: str, dr: str, cr: str, amount: int, **kwargs: object) -> TransferRequest:
    return TransferRequest(
        id=id,
        debit_account_id=dr,
        credit_account_id=cr,
        amount=amount,
        currency="CNY",
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_due_hold_whose_other_account_sorts_first_is_expired_by_a_retry_in_lock_order(
    ledger: Ledger, clock: ManualClock
) -> None:
    _open(ledger, "a_counterpart", "m_touched", "z_other")
    [hold] = ledger.create_transfers(
        [_pay("hold", "m_touched", "a_counterpart", 40, flags=TransferFlags.PENDING, timeout_s=5)]
    )
    assert hold.result == "created"
    clock.advance(6)

    # Names m and z only; the due hold also needs a, which sorts before both.
    [result] = ledger.create_transfers([_pay("next", "z_other", "m_touched", 10)])

    assert result.result == "created"
    transfer = ledger.get_transfer("hold")
    assert transfer is not None and transfer.status == TransferStatus.EXPIRED_PENDING
    counterpart = ledger.get_account("a_counterpart")
    touched = ledger.get_account("m_touched")
    assert counterpart is not None and counterpart.credits_pending == 0
    assert touched is not None and (touched.debits_pending, touched.credits_posted) == (0, 10)
    assert ledger.check().ok


def test_writing_a_hold_that_changed_since_it_was_read_raises_stale_hold(
    ledger: Ledger, engine: Engine, clock: ManualClock
) -> None:
    _open(ledger, "payer", "payee")
    ledger.create_transfers([_pay("hold", "payer", "payee", 70, flags=TransferFlags.PENDING)])
    post = TransferRequest(id="post", pending_id="hold", flags=TransferFlags.POST_PENDING)

    with engine.connect().execution_options(**WRITER) as conn, conn.begin():
        accounts, loaded, failed = store_writer.lock_and_load(
            conn, account_ids={"payer", "payee"}, transfer_ids={"post", "hold"}, now=clock.now()
        )
        posting = Posting(accounts=accounts, transfers=loaded, failed=failed, now=clock.now())
        assert posting.apply([post]) == ["created"]
        # Another writer voided the hold after it was read.
        conn.execute(
            update(store.transfers)
            .where(store.transfers.c.id == "hold")
            .values(status=TransferStatus.VOIDED_PENDING.value)
        )
        with pytest.raises(store_writer.StaleHold):
            store_writer.write_posting(conn, posting)
        conn.rollback()

    assert ledger.get_transfer("post") is None
    payee = ledger.get_account("payee")
    assert payee is not None and (payee.credits_pending, payee.credits_posted) == (70, 0)


def test_one_callers_failing_batch_does_not_fail_the_callers_grouped_with_it() -> None:
    engine = create_engine("sqlite://")
    calls: list[int] = []

    def apply_group(_conn: Connection, group: Sequence[Job]) -> list[list[str]]:
        calls.append(len(group))
        if any(t.id == "poison" for job in group for t in job.transfers):
            raise ValueError("a bug triggered by one batch")
        return [["created"] * len(job.transfers) for job in group]

    committer = GroupCommitter(engine, apply_group)
    inside, release = threading.Event(), threading.Event()
    blocker = Job(transfers=[_pay("blocker", "x", "y", 1)])
    original = committer._apply_group

    def held_first(conn: Connection, group: Sequence[Job]) -> list[list[str]]:
        if group[0] is blocker:
            inside.set()
            release.wait(5)
        return original(conn, group)

    committer._apply_group = held_first
    first = committer.submit(blocker)
    assert inside.wait(5)  # the writer is busy, so the next three queue up as one group
    jobs = [Job(transfers=[_pay(i, "x", "y", 1)]) for i in ("good_1", "poison", "good_2")]
    futures = [committer.submit(job) for job in jobs]
    release.set()

    assert first.result(5) == ["created"]
    assert futures[0].result(5) == ["created"]
    with pytest.raises(ValueError):
        futures[1].result(5)
    assert futures[2].result(5) == ["created"]
    assert calls == [1, 3, 1, 1, 1]  # tried together, then caller by caller
    committer.close()
    engine.dispose()


def test_many_threads_posting_through_one_hot_account_each_get_their_own_result(
    ledger: Ledger,
) -> None:
    _open(ledger, "hot", *(f"w{i}" for i in range(8)))
    results: dict[str, str] = {}
    lock = threading.Lock()

    def client(n: int) -> None:
        for k in range(25):
            tid = f"c{n}-{k}"
            [r] = ledger.create_transfers([_pay(tid, f"w{n}", "hot", k + 1)])
            with lock:
                results[tid] = r.result

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(results) == 200 and set(results.values()) == {"created"}
    hot = ledger.get_account("hot")
    assert hot is not None and hot.credits_posted == 8 * sum(range(1, 26))
    assert ledger.check().ok


def test_a_caller_that_gave_up_while_queued_is_skipped_and_the_writer_keeps_writing() -> None:
    """An HTTP caller's task cancelled while its batch waits (a shutdown, a disconnect)
    cancels the batch's future through asyncio.wrap_future. The writer must neither apply
    a batch nobody waits for nor die setting the result of a cancelled future."""
    engine = create_engine("sqlite://")
    applied: list[str] = []

    def apply_group(_conn: Connection, group: Sequence[Job]) -> list[list[str]]:
        applied.extend(t.id for job in group for t in job.transfers)
        return [["created"] * len(job.transfers) for job in group]

    committer = GroupCommitter(engine, apply_group)
    inside, release = threading.Event(), threading.Event()
    blocker = Job(transfers=[_pay("blocker", "x", "y", 1)])

    def held_first(conn: Connection, group: Sequence[Job]) -> list[list[str]]:
        if group[0] is blocker:
            inside.set()
            release.wait(5)
        return apply_group(conn, group)

    committer._apply_group = held_first
    committer.submit(blocker)
    assert inside.wait(5)
    gave_up = committer.submit(Job(transfers=[_pay("gave_up", "x", "y", 1)]))
    assert gave_up.cancel()  # still queued: the caller's cancel reaches it
    release.set()

    later = committer.submit(Job(transfers=[_pay("later", "x", "y", 1)]))

    assert later.result(5) == ["created"]
    assert "gave_up" not in applied
    committer.close()
    engine.dispose()
