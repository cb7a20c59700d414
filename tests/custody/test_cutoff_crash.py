"""The 24:00 auto-refund survives kill -9 in each gap of a refund: a process running the
cut-off is killed (SIGKILL) after the refund order is recorded and before the bank is
called, or after the bank took it and before its answer is stored. A rerun inside the
idempotency lease leaves the run incomplete; reruns after it, the janitor and the ticks
then settle everything, and every payer is refunded exactly once: once at the bank, once
in the ledger, once in the report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from paycore.custody.model import ReceiptStatus
from paycore.payments.model import OrderKind, OrderStatus
from paycore.security.crypto import FieldCipher
from tests.custody import cutoff_crash_worker
from tests.custody.conftest import SHANGHAI, Desk
from tests.custody.cutoff_crash_worker import FileBank
from tests.custody.test_cutoff_retries import DAY

REPO = Path(__file__).resolve().parents[2]
MIDNIGHT = datetime(2026, 3, 11, 0, 0, 0, tzinfo=SHANGHAI)
PAYERS = (1, 2, 3, 4)
WORKER_TIMEOUT_S = 120


@pytest.fixture
def field_cipher() -> FieldCipher:
    """The worker's key: both processes read what the other sealed."""
    return cutoff_crash_worker.field_cipher()


@pytest.fixture
def alpha(tmp_path: Path) -> FileBank:
    return FileBank("alpha", tmp_path / "bank.db")


def kill_the_cutoff(desk: Desk, database_url: str, tmp_path: Path, gap: str, victim: int) -> None:
    """Run the day's cut-off in another process that SIGKILLs itself in `gap` at the
    `victim`-th refund; the process must die there, not finish."""
    env = {
        **os.environ,
        "PAYCORE_DATABASE_URL": database_url,
        "CUTOFF_CLOCK_AT": desk.clock.now().isoformat(),
        "CUTOFF_BANK_FILE": str(tmp_path / "bank.db"),
        "CUTOFF_DATA_DIR": str(tmp_path / "var"),
        "CUTOFF_CUSTODY_FILE": str(tmp_path / "custody.json"),
        "CUTOFF_CRASH_AT": gap,
        "CUTOFF_CRASH_ON": str(victim),
        "CUTOFF_DAY": DAY.isoformat(),
    }
    worker = subprocess.run(
        [sys.executable, "-m", "tests.custody.cutoff_crash_worker"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
    )
    assert worker.returncode == -signal.SIGKILL, worker.stdout + worker.stderr
    assert "finished" not in worker.stdout


def assert_each_payer_refunded_once(desk: Desk, payins: dict[int, str]) -> None:
    runtime = desk.runtime
    bank = desk.alpha
    assert isinstance(bank, FileBank)
    taken = bank.taken()
    by_payin = {payin: [t for t in taken if t[2] == payin] for payin in payins.values()}
    for n, payin in payins.items():
        [(reference, kind, _, amount)] = by_payin[payin]  # the bank paid it once
        assert (kind, amount) == ("refund", 10_000 * n)
        refunds = runtime.payments.list_orders(
            merchant_id=None, kind=OrderKind.REFUND, parent_id=payin
        )
        paid = [r for r in refunds if r.status is OrderStatus.SUCCEEDED]
        assert [r.id for r in paid] == [reference]  # the ledger paid it once, the same one
        assert all(r.status is OrderStatus.FAILED for r in refunds if r not in paid)
        assert runtime.payments.get(merchant_id=None, order_id=payin).refunded_amount == amount
        assert desk.receipt(payin).status is ReceiptStatus.REFUNDED
        assert desk.balance(f"buyer-{n}") == 0
    assert len(taken) == len(payins)
    [wallet] = runtime.payments.balances(desk.merchant_id)
    assert (wallet["balance"], wallet["held"]) == (0, 0)  # all of it went back to payers
    run = runtime.custody.cutoff_report("sandbox_custody", DAY)
    assert run.status == "completed" and run.is_complete
    assert sorted(line.refund_id or "" for line in run.lines) == sorted(t[0] for t in taken)
    assert {line.outcome for line in run.lines} == {"refunded"}
    assert runtime.ledger.check().ok


@pytest.mark.parametrize(
    ("gap", "victim"),
    [
        ("recorded", 2),
        ("before_bank", 1),
        ("before_bank", 4),
        ("after_bank", 1),
        ("after_bank", 3),
    ],
)
def test_a_cutoff_killed_in_a_refunds_gap_refunds_every_payer_exactly_once_on_rerun(
    desk: Desk, database_url: str, tmp_path: Path, gap: str, victim: int
) -> None:
    payins = {n: desk.pay(f"buyer-{n}", 10_000 * n) for n in PAYERS}
    desk.move_to(MIDNIGHT + timedelta(minutes=5))
    kill_the_cutoff(desk, database_url, tmp_path, gap, victim)

    inside_lease = desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    desk.clock.advance(61)
    desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    desk.clock.advance(400)  # the janitor and the ticks find nothing left to do
    desk.runtime.janitor.sweep()
    desk.runtime.custody.tick()

    assert inside_lease.status == "incomplete" and not inside_lease.is_complete
    assert_each_payer_refunded_once(desk, payins)


@pytest.mark.parametrize("gap", ["recorded", "before_bank", "after_bank"])
def test_a_cutoff_killed_and_left_until_the_janitor_looks_refunds_every_payer_exactly_once(
    desk: Desk, database_url: str, tmp_path: Path, gap: str
) -> None:
    payins = {n: desk.pay(f"buyer-{n}", 10_000 * n) for n in PAYERS}
    desk.move_to(MIDNIGHT + timedelta(minutes=5))
    kill_the_cutoff(desk, database_url, tmp_path, gap, 2)

    desk.clock.advance(301)  # nobody reruns it in time: the janitor asks the bank first
    desk.runtime.janitor.sweep()
    for _ in range(3):  # then the scheduled worker, a minute apart
        desk.clock.advance(61)
        desk.runtime.janitor.sweep()
        desk.runtime.custody.tick()

    assert_each_payer_refunded_once(desk, payins)
