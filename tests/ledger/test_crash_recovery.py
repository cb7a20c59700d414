"""A process posting transfers is killed with SIGKILL mid-stream, three times over.

After each kill: every transfer the worker saw acknowledged is stored, no refused one
is, every linked chain in the database is whole, no constrained account is overdrawn,
the balances recompute from the journal, and `paycore ledger check` exits 0.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner, Result

from paycore.cli import app
from paycore.ledger import store
from paycore.ledger.model import TransferStatus
from paycore.ledger.service import Ledger
from paycore.platform.db import make_engine
from tests.ledger import crash_worker

WORKER = Path(crash_worker.__file__)
KILLS = 3
FIRST_ACK_TIMEOUT_S = 20.0
RUN_AFTER_FIRST_ACK_S = (0.5, 1.5)  # the worker lives about 1-2 s in all, start-up included


@dataclass
class WorkerLog:
    """What a killed worker printed: the replies it received before it died."""

    created: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    first_ack: threading.Event = field(default_factory=threading.Event)

    def read(self, stream: Iterator[str]) -> None:
        for line in stream:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "created":
                self.created.append(rest)
                self.first_ack.set()
            elif kind == "refused":
                transfer_id, _, result = rest.partition(" ")
                self.refused[transfer_id] = result
            elif kind != "ready":
                self.errors.append(line)
                self.first_ack.set()
        self.first_ack.set()  # the worker died before its first acknowledgement


def run_and_kill(database_url: str, tag: str, stderr_path: Path) -> WorkerLog:
    """Start a worker, SIGKILL it 0.5-1.5 s after its first acknowledgement, return its log."""
    env = {**os.environ, "PAYCORE_DATABASE_URL": database_url}
    log = WorkerLog()
    with (
        stderr_path.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, str(WORKER), tag],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as worker,
    ):
        assert worker.stdout is not None
        reader = threading.Thread(target=log.read, args=(worker.stdout,), daemon=True)
        reader.start()
        try:
            log.first_ack.wait(FIRST_ACK_TIMEOUT_S)
            if worker.poll() is None and not log.errors:
                time.sleep(random.uniform(*RUN_AFTER_FIRST_ACK_S))
        finally:
            worker.send_signal(signal.SIGKILL)
            returncode = worker.wait(10)
            reader.join(10)  # the pipe still holds every line flushed before the kill
    died = f"the worker ended by itself ({returncode}): {stderr_path.read_text()[-3000:]}"
    assert not log.errors, f"{log.errors}; {died}"
    assert returncode == -signal.SIGKILL, died
    assert log.created, f"no acknowledgement before the kill: {stderr_path.read_text()[-3000:]}"
    return log


def stored_transfer_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {transfer_id for (transfer_id,) in conn.execute(select(store.transfers.c.id))}


def half_applied_chains(stored_ids: set[str]) -> dict[str, set[str]]:
    """Linked chains (ids `<chain>.L<size>.<k>`) of which some but not all transfers are stored."""
    chains: dict[str, set[str]] = defaultdict(set)
    sizes: dict[str, int] = {}
    for transfer_id in stored_ids:
        chain, _, rest = transfer_id.rpartition(".L")
        if chain:
            chains[chain].add(transfer_id)
            sizes[chain] = int(rest.partition(".")[0])
    return {chain: ids for chain, ids in chains.items() if len(ids) != sizes[chain]}


def assert_recovered(ledger: Ledger, engine: Engine, log: WorkerLog) -> None:
    stored_ids = stored_transfer_ids(engine)
    missing = [i for i in log.created if i not in stored_ids]
    assert not missing, f"{len(missing)} acknowledged transfers lost, e.g. {missing[:5]}"
    stored_refusals = [i for i in log.refused if i in stored_ids]
    assert not stored_refusals, f"refused transfers stored: {stored_refusals[:5]}"
    for transfer_id in random.sample(log.created, min(200, len(log.created))):
        assert ledger.get_transfer(transfer_id) is not None, transfer_id
    for resolved_id in (i for i in log.created if i.endswith(".r")):
        hold = ledger.get_transfer(resolved_id.removesuffix(".r") + ".p")
        assert hold is not None
        assert hold.status in (TransferStatus.POSTED_PENDING, TransferStatus.VOIDED_PENDING)
    half_applied = half_applied_chains(stored_ids)
    assert not half_applied, f"linked chains applied in part: {list(half_applied.items())[:3]}"
    for account_id in crash_worker.ACCOUNTS:
        account = ledger.get_account(account_id)
        assert account is not None and account.available >= 0, account
    report = ledger.check()
    assert report.ok, report.problems


def run_ledger_check_command(database_url: str) -> Result:
    """`paycore ledger check` in this process: a new process would open the database no
    differently (the first connection after the kill already recovered it), and starting
    one imports every slice's command, three times per run."""
    return CliRunner().invoke(app, ["ledger", "check"], env={"PAYCORE_DATABASE_URL": database_url})


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_killed_writer_loses_no_acknowledged_transfer_and_applies_no_chain_in_part(
    database_url: str, tmp_path: Path
) -> None:
    totals: list[str] = []
    for kill in range(KILLS):
        log = run_and_kill(database_url, f"k{kill}", tmp_path / f"worker-{kill}.stderr")
        engine = make_engine(database_url, pool_size=2)
        ledger = Ledger(engine)
        try:
            assert_recovered(ledger, engine, log)
        finally:
            ledger.close()
            engine.dispose()
        command = run_ledger_check_command(database_url)
        assert command.exit_code == 0, command.output
        assert "ledger balances" in command.stdout
        chains = {i.rpartition(".L")[0] for i in log.created if ".L" in i}
        assert chains, "the worker acknowledged no linked chain before the kill"
        totals.append(
            f"kill {kill}: {len(log.created)} created ({len(chains)} chains), "
            f"{len(log.refused)} refused"
        )
    print("\n" + "; ".join(totals))
