"""Runs the custody cut-off and kills itself with SIGKILL at one gap: the crash test's victim.

    python -m tests.custody.cutoff_crash_worker      (settings in the environment, below)

CUTOFF_CRASH_AT names the gap, CUTOFF_CRASH_ON which refund (1 = the first) dies in it:
- `recorded`: the refund order is recorded, before its hold and the bank call;
- `before_bank`: the order and its hold are recorded, the bank is being called;
- `after_bank`: the bank has taken the refund, its answer is not yet stored.

The bank is `FileBank`: a fake bank that keeps what it took in a SQLite file shared by
every process, and, like the sandbox bank, answers a reference it already holds with that
transaction (the order id is its idempotency key), so a resend never pays twice.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from paycore.channels.model import (
    ChannelResult,
    ChannelStatus,
    Operation,
    PayoutRequest,
    RefundRequest,
)
from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.platform.config import Settings
from paycore.platform.db import make_engine
from paycore.security.crypto import FieldCipher
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import scripted_runtime

FIELD_KEY = bytes(range(32))
GAPS = ("recorded", "before_bank", "after_bank")


class FileBank(ScriptedChannel):
    """Pay-ins as scripted; refunds and payouts kept in a SQLite file, one per reference."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path
        self.crash_at = ""
        self.crash_on = 0
        self._sent = 0
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS txns (reference TEXT PRIMARY KEY, kind TEXT,"
                " payin_reference TEXT, amount INTEGER)"
            )

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _take(self, kind: str, reference: str, payin_reference: str, amount: int) -> ChannelResult:
        self._sent += 1
        dies = self._sent == self.crash_on
        if dies and self.crash_at == "before_bank":
            os.kill(os.getpid(), signal.SIGKILL)
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO txns VALUES (?, ?, ?, ?)",
                (reference, kind, payin_reference, amount),
            )
        if dies and self.crash_at == "after_bank":
            os.kill(os.getpid(), signal.SIGKILL)
        self.calls.append((kind, reference))
        return ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id=f"fb-{reference}")

    def refund(self, request: RefundRequest) -> ChannelResult:
        return self._take(
            "refund", request.reference, request.payin_reference, request.amount_minor
        )

    def pay_out(self, request: PayoutRequest) -> ChannelResult:
        return self._take("payout", request.reference, "", request.amount_minor)

    def query(self, operation: Operation, reference: str) -> ChannelResult:
        if operation is Operation.PAYIN:
            return super().query(operation, reference)
        with self._db() as db:
            found = db.execute("SELECT 1 FROM txns WHERE reference = ?", (reference,)).fetchone()
        if found is None:
            return ChannelResult(ChannelStatus.NOT_FOUND)
        return ChannelResult(ChannelStatus.SUCCEEDED, channel_txn_id=f"fb-{reference}")

    def taken(self) -> list[tuple[str, str, str, int]]:
        """Every transaction the bank took: (reference, kind, pay-in reference, amount)."""
        with self._db() as db:
            return list(db.execute("SELECT reference, kind, payin_reference, amount FROM txns"))


def field_cipher() -> FieldCipher:
    return FieldCipher({"test1": FIELD_KEY}, "test1")


def main() -> None:
    env = os.environ
    url = env["PAYCORE_DATABASE_URL"]
    clock = ManualClock(start=datetime.fromisoformat(env["CUTOFF_CLOCK_AT"]))
    engine = make_engine(url)
    ledger = Ledger(engine, clock=clock)
    bank = FileBank("alpha", Path(env["CUTOFF_BANK_FILE"]))
    bank.crash_at = env["CUTOFF_CRASH_AT"]
    bank.crash_on = int(env["CUTOFF_CRASH_ON"])
    runtime = next(
        scripted_runtime(
            database_url=url,
            engine=engine,
            clock=clock,
            ledger=ledger,
            cipher=field_cipher(),
            channels=[bank],
            settings=Settings(
                database_url=url,
                expiry_interval_s=1.0,
                data_dir=env["CUTOFF_DATA_DIR"],
                custody_file=env["CUTOFF_CUSTODY_FILE"],
            ),
        )
    )
    if bank.crash_at == "recorded":
        steps = runtime.payments._steps
        real_hold = steps.hold
        holds = iter(range(1, 1_000))

        def hold_or_die(*args: Any, **kwargs: Any) -> None:
            if next(holds) == bank.crash_on:
                os.kill(os.getpid(), signal.SIGKILL)
            real_hold(*args, **kwargs)

        steps.hold = hold_or_die  # type: ignore[method-assign]
    print("ready", flush=True)
    runtime.custody.run_cutoff("sandbox_custody", date.fromisoformat(env["CUTOFF_DAY"]))
    print("finished", flush=True)  # the test fails: the worker was meant to die
    sys.exit(0)


if __name__ == "__main__":
    main()
