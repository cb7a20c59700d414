"""On PostgreSQL an entry can become visible after a later one (seqs are taken at insert,
commits land in any order): the export waits for it rather than skip it for ever; and an
updated-at window never passes the start of a transaction still writing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, insert, text

from paycore.clock import ManualClock
from paycore.ledger.service import AccountRequest
from paycore.ledger.store import entries
from paycore.runtime import Runtime
from paycore.warehouse import store
from paycore.warehouse.service import WarehouseExport
from tests.conftest import postgres_only
from tests.warehouse.conftest import rows_of, settle


def _entry(conn: Connection, clock: ManualClock, amount: int) -> Any:
    """One journal row, written as the ledger's writer would, in the caller's transaction."""
    return conn.execute(
        insert(entries).values(
            account_id="acct_wh_1",
            transfer_id=f"tr_wh_{amount}",
            event="create",
            side="debit",
            amount=amount,
            debits_pending=0,
            debits_posted=amount,
            credits_pending=0,
            credits_posted=0,
            created_at=clock.now(),
        )
    ).inserted_primary_key[0]


@postgres_only
def test_an_entry_committed_after_a_later_one_is_waited_for_and_exported_once(
    runtime: Runtime,
    clock: ManualClock,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    runtime.ledger.create_accounts([AccountRequest(id="acct_wh_1", currency="CNY")])
    exporter = WarehouseExport(runtime.engine, warehouse_root, clock, journal_wait_s=0.3)
    with runtime.engine.connect() as slow:
        slow.begin()
        early = _entry(slow, clock, 100)  # seq taken, not yet committed
        with runtime.engine.begin() as fast:
            late = _entry(fast, clock, 200)
        assert late > early
        settle(clock)

        [waiting] = exporter.export(tables=["ledger_entries"])
        slow.commit()

    [exported] = exporter.export(tables=["ledger_entries"])

    assert (waiting.status, waiting.rows) == ("nothing", 0)
    assert exported.rows == 2
    assert rows_of(
        con, warehouse_root, "ledger_entries", "SELECT seq, amount FROM {t} ORDER BY seq"
    ) == [(early, 100), (late, 200)]


@postgres_only
def test_an_updated_at_window_stops_before_a_transaction_still_writing_began(
    runtime: Runtime, warehouse_root: Path
) -> None:
    clock = ManualClock(start=datetime.now(UTC))
    exporter = WarehouseExport(runtime.engine, warehouse_root, clock, settle_s=60)
    with runtime.engine.connect() as slow:
        slow.begin()
        began = slow.execute(text("SELECT txid_current(), now()")).one()[1]
        clock.advance(600)  # a long reconciliation run, still open

        exporter.export(tables=["recon_breaks"])
        held = _mark(runtime, "recon_breaks")
        slow.commit()
    exporter.export(tables=["recon_breaks"])

    assert held <= began - timedelta(seconds=60)
    assert _mark(runtime, "recon_breaks") == clock.now() - timedelta(seconds=60)


def _mark(runtime: Runtime, table: str) -> datetime:
    with runtime.engine.connect() as conn:
        found = store.watermark(conn, table)
    assert found is not None and found.position_at is not None
    return found.position_at
