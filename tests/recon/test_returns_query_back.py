"""A statement showing a paid payout returned makes the run ask the payout's channel
(`Payments.check_returns`). Whatever that one question runs into, the run itself goes on:
its other work is done and recorded, and the break waits for a person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.ledger.service import Ledger
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from tests.payments.fakes import ScriptedChannel
from tests.payments.http_conftest import scripted_runtime
from tests.recon.conftest import DAY, Row, paid_payout, write_statement


@pytest.fixture
def restarted(
    database_url: str, engine: Engine, clock: ManualClock, ledger: Ledger, field_cipher: FieldCipher
) -> Iterator[Runtime]:
    """The same database after a restart whose channel configuration no longer has alpha
    (a channel retired while its last statements are still being reconciled)."""
    yield from scripted_runtime(
        database_url=database_url,
        engine=engine,
        clock=clock,
        ledger=ledger,
        cipher=field_cipher,
        channels=[ScriptedChannel("beta")],
    )


def test_a_return_on_the_statement_of_a_retired_channel_leaves_a_break_and_the_run_completes(
    runtime: Runtime, alpha: ScriptedChannel, merchant_id: str, restarted: Runtime, tmp_path: Path
) -> None:
    payout = paid_payout(runtime, alpha, merchant_id, amount=30_000, txn="P1")
    statement = write_statement(
        tmp_path / "day.csv",
        [
            Row("P1", 30_000, "P1", kind="payout", direction="debit", fee=payout.fee_amount),
            Row("P1/RETURN", 30_000, "P1", kind="payout", direction="credit"),
        ],
    )
    restarted.recon.import_file(statement, format="test_csv", source="alpha")

    report = restarted.recon.run(source="alpha", business_date=DAY)  # refused before

    [mismatch] = restarted.recon.list_breaks()
    after = restarted.payments.get(merchant_id=None, order_id=payout.id)
    assert restarted.recon.get_run(report["id"])["matched"] == 2
    assert (mismatch["type"], mismatch["status"]) == ("status_mismatch", "open")
    assert after.status.value == "succeeded"  # nobody could ask: a person decides
