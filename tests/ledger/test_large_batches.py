"""Batches large enough to take the writer's bulk path (binary COPY and JSON row lists on
PostgreSQL, executemany on SQLite) keep every rule the small ones keep."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence

import psycopg
import pytest
from sqlalchemy import Connection, Engine, create_engine, update

from paycore.clock import ManualClock
from paycore.ledger import store, store_writer
from paycore.ledger.group_commit import GroupCommitter, Job
from paycore.ledger.model import AccountFlags, TransferFlags, TransferRequest, TransferStatus
from paycore.ledger.posting import Posting
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import WRITER
from tests.ledger.reference_ledger import RefAccount, ReferenceLedger

BULK = store_writer.COPY_ROWS_MIN  # transfers: twice as many entries, well past the threshold
ACCOUNTS = {
    "acc_a": AccountFlags.NONE,
    "acc_b": AccountFlags.NONE,
    "acc_c": AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    "acc_d": AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    "acc_e": AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
    "acc_f": AccountFlags.NONE,
}


def _open_all(ledger: Ledger, model: ReferenceLedger) -> None:
    ledger.create_accounts(
        [AccountRequest(id=i, currency="CNY", flags=f) for i, f in ACCOUNTS.items()]
    )
    for account_id, flags in ACCOUNTS.items():
        model.accounts[account_id] = RefAccount("CNY", flags)


def _pay(id: str, dr: str, cr: str, amount: int | None, **kwargs: object) -> TransferRequest:
    return TransferRequest(
        id=id,
        debit_account_id=dr,
        credit_account_id=cr,
        amount=amount,
        currency="CNY",
        **kwargs,  # type: ignore[arg-type]
    )


def _random_batch(
    rng: random.Random, prefix: str, holds: list[str], size: int
) -> list[TransferRequest]:
    """Plain transfers, holds, posts and voids of earlier holds, linked chains, replays of
    ids used earlier in the same batch, and malformed requests, over a few accounts."""
    ids = list(ACCOUNTS)
    batch: list[TransferRequest] = []
    while len(batch) < size:
        dr, cr = rng.sample(ids, 2)
        n = f"{prefix}{len(batch)}"
        kind = rng.random()
        if kind < 0.45:
            t = _pay(n, dr, cr, rng.randint(1, 500))
        elif kind < 0.6:
            t = _pay(n, dr, cr, rng.randint(1, 500), flags=TransferFlags.PENDING)
            holds.append(n)
        elif kind < 0.7 and holds:
            flags = rng.choice([TransferFlags.POST_PENDING, TransferFlags.VOID_PENDING])
            t = TransferRequest(id=n, pending_id=rng.choice(holds), flags=flags)
        elif kind < 0.8 and batch:
            # The same id again inside the batch: same body (exists) or another amount.
            earlier = rng.choice(batch)
            same = rng.random() < 0.5
            t = earlier if same else _pay(earlier.id, dr, cr, (earlier.amount or 1) + 1)
        elif kind < 0.85:
            t = _pay(n, dr, cr, 0)  # amount_must_be_positive
        else:
            chain = []
            for k in range(rng.randint(2, 5)):
                c_dr, c_cr = rng.sample(ids, 2)
                amount = rng.randint(1, 900)
                chain.append(_pay(f"{n}_{k}", c_dr, c_cr, amount, flags=TransferFlags.LINKED))
            last = chain[-1]
            chain[-1] = _pay(
                last.id, last.debit_account_id or "", last.credit_account_id or "", last.amount
            )
            batch.extend(chain)
            continue
        batch.append(t)
    if batch[-1].flags & TransferFlags.LINKED:
        batch.append(_pay(f"{prefix}end", ids[0], ids[1], 1))
    return batch


def _assert_matches(ledger: Ledger, model: ReferenceLedger) -> None:
    for account_id, expected in model.accounts.items():
        account = ledger.get_account(account_id)
        assert account is not None and account.balances() == expected.balances(), account_id
        last = ledger.entries(account_id, limit=1).entries
        if last:
            snapshot = last[0]
            assert (
                snapshot.debits_pending,
                snapshot.debits_posted,
                snapshot.credits_pending,
                snapshot.credits_posted,
            ) == expected.balances()
    assert ledger.check().ok


@pytest.mark.parametrize("seed", [1, 2])
def test_bulk_batches_mixing_few_accounts_many_times_give_the_reference_results_and_sums(
    ledger: Ledger, seed: int
) -> None:
    rng = random.Random(seed)
    model = ReferenceLedger()
    _open_all(ledger, model)
    holds: list[str] = []
    funding = [_pay(f"fund_{i}", "acc_e", i, 100_000) for i in ("acc_c", "acc_d")]
    assert [r.result for r in ledger.create_transfers(funding)] == model.apply(funding)

    for round_ in range(2):
        batch = _random_batch(rng, f"s{seed}r{round_}_", holds, BULK + 50)
        expected = model.apply(batch)
        results = [r.result for r in ledger.create_transfers(batch)]
        assert results == expected
        # The whole batch replayed: nothing applies twice, every earlier failure stays.
        assert [r.result for r in ledger.create_transfers(batch)] == model.apply(batch)
    _assert_matches(ledger, model)


def test_a_bulk_batch_applies_nothing_of_a_linked_chain_with_one_bad_transfer(
    ledger: Ledger,
) -> None:
    model = ReferenceLedger()
    _open_all(ledger, model)
    filler = [_pay(f"fill_{i}", "acc_a", "acc_b", 1) for i in range(BULK)]
    chain = [
        _pay("chain_1", "acc_a", "acc_f", 10, flags=TransferFlags.LINKED),
        _pay("chain_2", "acc_f", "acc_b", 10, flags=TransferFlags.LINKED),
        _pay("chain_3", "acc_c", "acc_b", 10),  # acc_c has no credits: exceeds_credits
    ]
    results = [r.result for r in ledger.create_transfers([*filler[:100], *chain, *filler[100:]])]

    assert results[100:103] == ["linked_event_failed", "linked_event_failed", "exceeds_credits"]
    assert set(results[:100] + results[103:]) == {"created"}
    for missing in ("chain_1", "chain_2", "chain_3"):
        assert ledger.get_transfer(missing) is None
    a, f = ledger.get_account("acc_a"), ledger.get_account("acc_f")
    assert a is not None and a.debits_posted == BULK
    assert f is not None and f.balances() == (0, 0, 0, 0)
    # The transfer that broke the chain is remembered: the same chain fails again.
    again = [r.result for r in ledger.create_transfers(chain)]
    assert again == ["linked_event_failed", "linked_event_failed", "id_already_failed"]
    assert ledger.check().ok


def test_a_duplicate_id_inside_one_bulk_batch_is_applied_once(ledger: Ledger) -> None:
    model = ReferenceLedger()
    _open_all(ledger, model)
    batch = [_pay(f"t{i}", "acc_a", "acc_b", 5) for i in range(BULK)]
    batch += [batch[7], _pay("t8", "acc_a", "acc_b", 6), _pay("t9", "acc_a", "acc_f", 5)]

    results = [r.result for r in ledger.create_transfers(batch)]

    assert results[BULK:] == [
        "exists",
        "exists_with_different_amount",
        "exists_with_different_credit_account_id",
    ]
    b = ledger.get_account("acc_b")
    assert b is not None and b.credits_posted == 5 * BULK
    assert ledger.check().ok


def test_metadata_of_a_bulk_batch_is_stored_as_given_and_compared_on_replay(
    ledger: Ledger,
) -> None:
    model = ReferenceLedger()
    _open_all(ledger, model)
    metadata = {"order": "ord_1", "note": 'quote " backslash \\ tab \t ünï', "n": [1, 2.5, None]}
    batch = [
        _pay(f"m{i}", "acc_a", "acc_b", 3, metadata=metadata if i % 2 else None)
        for i in range(BULK)
    ]

    assert {r.result for r in ledger.create_transfers(batch)} == {"created"}

    with_metadata, without = ledger.get_transfer("m1"), ledger.get_transfer("m2")
    assert with_metadata is not None and dict(with_metadata.metadata) == metadata
    assert without is not None and dict(without.metadata) == {}
    assert {r.result for r in ledger.create_transfers(batch)} == {"exists"}
    changed = [_pay("m1", "acc_a", "acc_b", 3, metadata={"order": "ord_2"})]
    assert [r.result for r in ledger.create_transfers(changed)] == [
        "exists_with_different_metadata"
    ]


def test_posting_many_holds_at_once_fails_whole_if_one_changed_since_it_was_read(
    ledger: Ledger, engine: Engine, clock: ManualClock
) -> None:
    model = ReferenceLedger()
    _open_all(ledger, model)
    holds = [_pay(f"h{i}", "acc_a", "acc_b", 2, flags=TransferFlags.PENDING) for i in range(BULK)]
    assert {r.result for r in ledger.create_transfers(holds)} == {"created"}
    posts = [
        TransferRequest(id=f"p{i}", pending_id=f"h{i}", flags=TransferFlags.POST_PENDING)
        for i in range(BULK)
    ]
    hold_ids = {h.id for h in holds}

    with engine.connect().execution_options(**WRITER) as conn, conn.begin():
        accounts, loaded, failed = store_writer.lock_and_load(
            conn,
            account_ids={"acc_a", "acc_b"},
            transfer_ids=hold_ids | {p.id for p in posts},
            now=clock.now(),
        )
        posting = Posting(accounts=accounts, transfers=loaded, failed=failed, now=clock.now())
        assert set(posting.apply(posts)) == {"created"}
        conn.execute(
            update(store.transfers)
            .where(store.transfers.c.id == "h17")
            .values(status=TransferStatus.VOIDED_PENDING.value)
        )
        with pytest.raises(store_writer.StaleHold):
            store_writer.write_posting(conn, posting)
        conn.rollback()

    # The void above rolled back with the refused write; through the writer every post lands.
    assert {r.result for r in ledger.create_transfers(posts)} == {"created"}
    b = ledger.get_account("acc_b")
    assert b is not None and (b.credits_pending, b.credits_posted) == (0, 2 * BULK)
    assert ledger.check().ok


@pytest.mark.parametrize(
    "raw_error",
    [
        sqlite3.IntegrityError("UNIQUE constraint failed: ledger_transfers.id"),
        psycopg.errors.UniqueViolation("duplicate key value violates unique constraint"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
    ],
)
def test_a_race_reported_by_the_driver_itself_is_retried_like_a_wrapped_one(
    raw_error: Exception,
) -> None:
    """The bulk path writes through the driver's own cursor (COPY, executemany), whose
    errors SQLAlchemy does not wrap: a lost id race there must still be retried."""
    engine = create_engine("sqlite://")
    attempts: list[int] = []

    def apply_group(_conn: Connection, group: Sequence[Job]) -> list[list[str]]:
        attempts.append(len(group))
        if len(attempts) == 1:
            raise raw_error
        return [["exists"] * len(job.transfers) for job in group]

    committer = GroupCommitter(engine, apply_group)
    future = committer.submit(Job(transfers=[_pay("raced", "acc_a", "acc_b", 1)]))

    assert future.result(5) == ["exists"]
    assert attempts == [1, 1]
    committer.close()
    engine.dispose()
