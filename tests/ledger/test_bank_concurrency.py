"""The "bank" test: many clients move money at once; nothing is created, lost or overdrawn.

Clients run on several `Ledger` objects, each on its own engine (like separate
processes, competing through database row locks), and as threads sharing one
`Ledger` (competing through its group-commit writer). They post single
transfers, unlinked batches, linked pairs (all or nothing), holds that are
later posted (fully or partly) or voided, and replay some batches with the
same ids. Every account a client touches must not go negative
(debits_must_not_exceed_credits) and one hot account sits in many transfers.

Reader threads meanwhile check every snapshot they read: money is conserved,
no constrained account is overdrawn. Afterwards every acknowledged transfer
exists exactly once, no unacknowledged one exists, and the balances equal a
reference model rebuilt from the acknowledgements alone.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, func, select

from paycore.ledger import store
from paycore.ledger.model import AccountFlags, TransferFlags, TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import make_engine
from tests.conftest import ON_POSTGRES, postgres_only

CURRENCY = "CNY"
BANK = "acct_bank"  # unconstrained: it only funds the others before the clients start
HOT = "acct_hot"
SEED_MINOR = 5_000
CONSTRAINED = (HOT, *(f"acct_{i:02}" for i in range(9)))
TOTAL_SEED_MINOR = SEED_MINOR * len(CONSTRAINED)
JOIN_TIMEOUT_S = 30.0  # a client still running this long after its deadline is stuck


@dataclass(frozen=True, slots=True)
class Workload:
    ledgers: int
    clients_per_ledger: int
    readers: int
    duration_s: float


@dataclass
class Record:
    """What the clients and readers saw; threads only append, the test reads after join."""

    requests: dict[str, TransferRequest] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)
    results: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    check_problems: list[str] = field(default_factory=list)  # Ledger.check() under load
    reads: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


# -- set-up ------------------------------------------------------------------------------


def open_accounts(ledger: Ledger) -> None:
    ledger.create_account(AccountRequest(currency=CURRENCY, id=BANK))
    for account_id in CONSTRAINED:
        ledger.create_account(
            AccountRequest(
                currency=CURRENCY,
                id=account_id,
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
            )
        )
    seeds = [
        TransferRequest(
            id=f"seed-{a}",
            debit_account_id=BANK,
            credit_account_id=a,
            amount=SEED_MINOR,
            currency=CURRENCY,
        )
        for a in CONSTRAINED
    ]
    assert {r.result for r in ledger.create_transfers(seeds)} == {"created"}


@dataclass(frozen=True, slots=True)
class Node:
    """A `Ledger` on its own engine, as one process of the payment service would have."""

    ledger: Ledger
    engine: Engine


@pytest.fixture
def nodes(database_url: str) -> Iterator[list[Node]]:
    engines = [make_engine(database_url, pool_size=12) for _ in range(3)]
    opened = [Node(Ledger(e), e) for e in engines]
    open_accounts(opened[0].ledger)
    yield opened
    for node in opened:
        node.ledger.close()
        node.engine.dispose()


# -- clients ------------------------------------------------------------------------------


class Client:
    """One client: random transfers until the deadline, each batch recorded after its reply."""

    def __init__(self, ledger: Ledger, name: str, seed: int, record: Record) -> None:
        self.ledger = ledger
        self.name = name
        self.rng = random.Random(seed)
        self.record = record
        self.counter = 0
        self.holds: list[str] = []
        self.last_unlinked: list[TransferRequest] = []

    def run(self, deadline: float) -> None:
        try:
            while time.monotonic() < deadline:
                self.step()
        except Exception as exc:  # any exception is a lost reply: the test fails on it
            self.record.error(f"{self.name}: {type(exc).__name__}: {exc}")

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.25:
            self.submit([self.transfer(*self.pair())], replayable=True)
        elif roll < 0.35:
            self.submit(
                [self.transfer(*self.pair()) for _ in range(self.rng.randint(2, 6))],
                replayable=True,
            )
        elif roll < 0.55:
            self.submit_linked_pair()
        elif roll < 0.75 or not self.holds:
            self.submit([self.transfer(*self.pair(), flags=TransferFlags.PENDING)])
        elif roll < 0.95:
            self.resolve_hold()
        elif self.last_unlinked:
            self.replay()

    def new_id(self) -> str:
        self.counter += 1
        return f"{self.name}-{self.counter}"

    def pair(self) -> tuple[str, str]:
        if self.rng.random() < 0.4:  # the hot account is in 40% of transfers, either side
            other = self.rng.choice(CONSTRAINED[1:])
            return (HOT, other) if self.rng.random() < 0.5 else (other, HOT)
        debit, credit = self.rng.sample(CONSTRAINED, 2)
        return debit, credit

    def transfer(
        self, debit: str, credit: str, *, flags: TransferFlags = TransferFlags.NONE
    ) -> TransferRequest:
        return TransferRequest(
            id=self.new_id(),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=self.rng.randint(1, SEED_MINOR // 3),
            currency=CURRENCY,
            flags=flags,
        )

    def submit_linked_pair(self) -> None:
        first, middle = self.pair()
        last = self.rng.choice([a for a in CONSTRAINED if a != middle])
        self.submit(
            [
                self.transfer(first, middle, flags=TransferFlags.LINKED),
                self.transfer(middle, last),
            ]
        )

    def resolve_hold(self) -> None:
        pending_id = self.holds.pop(self.rng.randrange(len(self.holds)))
        pending = self.record.requests[pending_id]
        if self.rng.random() < 0.3:
            request = TransferRequest(
                id=self.new_id(), pending_id=pending_id, flags=TransferFlags.VOID_PENDING
            )
        else:  # post the full hold (amount None) or a part of it
            amount = self.rng.choice([None, self.rng.randint(1, pending.amount or 1)])
            request = TransferRequest(
                id=self.new_id(),
                pending_id=pending_id,
                amount=amount,
                flags=TransferFlags.POST_PENDING,
            )
        [result] = self.submit([request])
        if result != "created":
            self.record.error(f"{self.name}: resolving live hold {pending_id} gave {result}")

    def submit(self, batch: list[TransferRequest], *, replayable: bool = False) -> list[str]:
        with self.record.lock:
            for t in batch:
                self.record.requests[t.id] = t
        results = [r.result for r in self.ledger.create_transfers(batch)]
        with self.record.lock:
            for t, result in zip(batch, results, strict=True):
                self.record.results[result] += 1
                if result == "created":
                    self.record.created.add(t.id)
                else:
                    self.record.refused[t.id] = result
        for t, result in zip(batch, results, strict=True):
            if result == "created" and t.flags & TransferFlags.PENDING:
                self.holds.append(t.id)
        if replayable:
            self.last_unlinked = batch
        return results

    def replay(self) -> None:
        """The same batch again, as a client retrying after a lost reply: nothing moves twice."""
        batch, self.last_unlinked = self.last_unlinked, []
        replies = self.ledger.create_transfers(batch)
        for t, reply in zip(batch, replies, strict=True):
            expected = "exists" if t.id in self.record.created else "id_already_failed"
            if reply.result != expected:
                self.record.error(f"{self.name}: replayed {t.id} gave {reply.result}")


# -- readers ------------------------------------------------------------------------------


def check_snapshot(balances: dict[str, tuple[int, int, int, int]], where: str) -> list[str]:
    """Conservation and no overdraft over balances that were read in one snapshot."""
    problems = []
    debits_pending = sum(b[0] for b in balances.values())
    credits_pending = sum(b[2] for b in balances.values())
    if debits_pending != credits_pending:
        problems.append(f"{where}: pending {debits_pending} debits != {credits_pending} credits")
    net = sum(b[3] - b[1] for b in balances.values())
    if net != 0:
        problems.append(f"{where}: posted credits - debits over all accounts is {net}, not 0")
    constrained_net = sum(balances[a][3] - balances[a][1] for a in CONSTRAINED)
    if constrained_net != TOTAL_SEED_MINOR:
        problems.append(f"{where}: customers hold {constrained_net}, not {TOTAL_SEED_MINOR}")
    for account_id in CONSTRAINED:
        dp, dpo, _, cpo = balances[account_id]
        if dp + dpo > cpo:
            problems.append(f"{where}: {account_id} overdrawn: {dp}+{dpo} > {cpo}")
    return problems


def read_in_one_transaction(engine: Engine) -> dict[str, tuple[int, int, int, int]]:
    """Each account by its own query, all inside one transaction: one snapshot."""
    options = {"isolation_level": "REPEATABLE READ"} if ON_POSTGRES else {}
    order = [BANK, *CONSTRAINED]
    random.shuffle(order)
    balances = {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        for account_id in order:
            account = store.get_account(conn, account_id)
            assert account is not None
            balances[account_id] = account.balances()
    return balances


def read_until(ledger: Ledger, engine: Engine, record: Record, stop: threading.Event) -> None:
    """Three kinds of read, over and over: the self-check, one transaction, one account."""
    try:
        while not stop.is_set():
            report = ledger.check()
            dp, dpo, cp, cpo = report.totals[CURRENCY]
            with record.lock:
                record.check_problems += report.problems
            problems = []
            if dp != cp or dpo != cpo:
                problems.append(f"check: totals {report.totals[CURRENCY]} do not balance")
            problems += check_snapshot(read_in_one_transaction(engine), "transaction")
            account = ledger.get_account(random.choice(CONSTRAINED))
            if account is None or account.available < 0:
                problems.append(f"get_account: {account} is overdrawn")
            for problem in problems:
                record.error(problem)
            with record.lock:
                record.reads["rounds"] += 1
    except Exception as exc:
        record.error(f"reader: {type(exc).__name__}: {exc}")


# -- the run ------------------------------------------------------------------------------


def run_bank(nodes: list[Node], workload: Workload, seed: int) -> Record:
    record = Record()
    deadline = time.monotonic() + workload.duration_s
    clients = [
        threading.Thread(
            target=Client(node.ledger, f"L{n}c{k}", seed * 1000 + n * 100 + k, record).run,
            args=(deadline,),
            daemon=True,
        )
        for n, node in enumerate(nodes[: workload.ledgers])
        for k in range(workload.clients_per_ledger)
    ]
    stop = threading.Event()
    readers = [
        threading.Thread(
            target=read_until, args=(node.ledger, node.engine, record, stop), daemon=True
        )
        for node in (nodes[i % workload.ledgers] for i in range(workload.readers))
    ]
    for thread in clients + readers:
        thread.start()
    for thread in clients:
        thread.join(max(deadline - time.monotonic(), 0) + JOIN_TIMEOUT_S)
    stop.set()
    for thread in readers:
        thread.join(JOIN_TIMEOUT_S)
    stuck = [t.name for t in clients + readers if t.is_alive()]
    assert not stuck, f"threads still waiting {JOIN_TIMEOUT_S}s after the deadline: {stuck}"
    return record


def expected_balances(record: Record) -> dict[str, list[int]]:
    """The reference model: balances rebuilt from the acknowledged transfers alone."""
    balances = {a: [0, 0, 0, 0] for a in (BANK, *CONSTRAINED)}
    for a in CONSTRAINED:
        balances[BANK][1] += SEED_MINOR
        balances[a][3] += SEED_MINOR
    for transfer_id in record.created:
        t = record.requests[transfer_id]
        if t.flags & (TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING):
            hold = record.requests[t.pending_id or ""]
            debit, credit = (
                balances[hold.debit_account_id or ""],
                balances[hold.credit_account_id or ""],
            )
            debit[0] -= hold.amount or 0
            credit[2] -= hold.amount or 0
            if t.flags & TransferFlags.POST_PENDING:
                debit[1] += t.amount or hold.amount or 0
                credit[3] += t.amount or hold.amount or 0
            continue
        slot = 0 if t.flags & TransferFlags.PENDING else 1
        balances[t.debit_account_id or ""][slot] += t.amount or 0
        balances[t.credit_account_id or ""][slot + 2] += t.amount or 0
    return balances


def assert_outcome(node: Node, record: Record) -> None:
    ledger = node.ledger
    assert not record.errors, "\n".join(record.errors[:20])
    assert record.created.isdisjoint(record.refused)
    with node.engine.connect() as conn:
        stored_ids = {row.id for row in conn.execute(select(store.transfers.c.id))}
        count_query = select(store.entries.c.transfer_id, func.count()).group_by(
            store.entries.c.transfer_id
        )
        entries_per_transfer = {tid: n for tid, n in conn.execute(count_query)}
    seeds = {f"seed-{a}" for a in CONSTRAINED}
    assert stored_ids - seeds == record.created, "acknowledged and stored transfers differ"
    doubled = {i: n for i, n in entries_per_transfer.items() if n != 2}
    assert not doubled, f"transfers journaled other than exactly once: {list(doubled)[:10]}"
    for transfer_id in random.sample(sorted(record.created), min(300, len(record.created))):
        stored = ledger.get_transfer(transfer_id)
        assert stored is not None and stored.id == transfer_id
    for transfer_id in random.sample(sorted(record.refused), min(300, len(record.refused))):
        assert ledger.get_transfer(transfer_id) is None, transfer_id
    expected = expected_balances(record)
    for account_id, balances in expected.items():
        account = ledger.get_account(account_id)
        assert account is not None
        assert list(account.balances()) == balances, account_id
    report = ledger.check()
    assert report.ok, report.problems
    # Judged last, after the invariants above: a self-check that runs while transfers
    # commit must read one snapshot, or it reports mismatches that are not there.
    assert not record.check_problems, (
        f"Ledger.check() under load reported {len(record.check_problems)} mismatches "
        f"on a ledger that balances, e.g. {record.check_problems[:4]}"
    )


def report_run(record: Record, workload: Workload, label: str) -> None:
    clients = workload.ledgers * workload.clients_per_ledger
    rate = len(record.created) / workload.duration_s
    print(
        f"\n{label}: {clients} clients on {workload.ledgers} ledgers, "
        f"{len(record.created)} created in {workload.duration_s}s ({rate:.0f}/s), "
        f"results {dict(record.results)}, reader rounds {record.reads['rounds']}"
    )


# -- tests ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
@postgres_only
def test_many_clients_on_separate_ledgers_never_overdraw_lose_or_double_a_transfer(
    nodes: list[Node],
) -> None:
    workload = Workload(ledgers=3, clients_per_ledger=6, readers=3, duration_s=4.0)
    seed = random.randrange(1_000_000)
    record = run_bank(nodes, workload, seed)
    report_run(record, workload, f"bank seed={seed}")
    assert record.results["created"] > 50, f"too little traffic to judge: {record.results}"
    assert record.results["exceeds_credits"] > 0, "the workload never hit the overdraft rule"
    assert_outcome(nodes[0], record)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_few_clients_on_two_ledgers_never_overdraw_lose_or_double_a_transfer(
    nodes: list[Node],
) -> None:
    workload = Workload(ledgers=2, clients_per_ledger=4, readers=2, duration_s=1.5)
    seed = random.randrange(1_000_000)
    record = run_bank(nodes, workload, seed)
    report_run(record, workload, f"small bank seed={seed}")
    assert record.results["created"] > 10, f"too little traffic to judge: {record.results}"
    assert_outcome(nodes[0], record)
