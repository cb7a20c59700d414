"""The export's core promises: every table lands in its Hive partitions with its schema
version, the journal's totals per day survive the trip, a re-run writes nothing, and a
late change rewrites the day it belongs to."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from paycore.clock import ManualClock
from paycore.errors import Rejected
from paycore.ledger.store import entries
from paycore.runtime import Runtime
from paycore.warehouse.files import days_of, table_lock, to_batch
from paycore.warehouse.schemas import BY_NAME, SCHEMA_VERSION_KEY, TABLES, WAREHOUSE_ZONE
from paycore.warehouse.service import WarehouseExport
from paycore.warehouse.sources import SOURCES, Source
from paycore.warehouse.store_sources import Rows
from tests.payments.http_conftest import Tenant
from tests.warehouse.conftest import paid_payins, rows_of, settle


def _journal_per_day(runtime: Runtime) -> dict[str, tuple[int, int]]:
    """(entries, sum of amounts) per Shanghai day, straight from the journal."""
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with runtime.engine.connect() as conn:
        for created_at, amount in conn.execute(select(entries.c.created_at, entries.c.amount)):
            day = created_at.astimezone(WAREHOUSE_ZONE).date().isoformat()
            found[day][0] += 1
            found[day][1] += amount
    return {day: (n, total) for day, (n, total) in found.items()}


def _exported_per_day(con: duckdb.DuckDBPyConnection, root: Path) -> dict[str, tuple[int, int]]:
    rows = rows_of(
        con,
        root,
        "ledger_entries",
        "SELECT CAST(dt AS VARCHAR), count(*), sum(amount) FROM {t} GROUP BY dt",
    )
    return {day: (n, int(total)) for day, n, total in rows}


def _mtimes(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_the_journal_exports_per_business_day_with_the_same_totals(
    client: TestClient,
    runtime: Runtime,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    # 23:59:50 and 00:00:10 in Shanghai: the same UTC day (15:59 and 16:00), two of ours.
    clock.advance(15 * 3_600 + 59 * 60 + 50)
    paid_payins(client, tenant, [10_000, 2_500])
    clock.advance(20)
    paid_payins(client, tenant, [7_700, 300, 12_000])
    settle(clock)

    results = {r.table: r for r in exporter.export()}

    assert results["ledger_entries"].rows > 0
    journal = _journal_per_day(runtime)
    assert len(journal) == 2
    assert _exported_per_day(con, warehouse_root) == journal
    [(count, distinct)] = rows_of(
        con, warehouse_root, "ledger_entries", "SELECT count(*), count(DISTINCT seq) FROM {t}"
    )
    assert count == distinct == sum(n for n, _ in journal.values())


def test_every_file_carries_its_tables_schema_version_and_the_table_documents_it(
    client: TestClient,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
) -> None:
    paid_payins(client, tenant, [10_000])
    settle(clock)
    exporter.export()

    parquet_files = list(warehouse_root.glob("*/dt=*/*.parquet"))
    assert {p.parent.parent.name for p in parquet_files} >= {
        "ledger_entries",
        "ledger_transfers",
        "payment_orders",
        "payment_attempts",
    }
    for path in parquet_files:
        table = BY_NAME[path.parent.parent.name]
        metadata = pq.read_schema(path).metadata
        assert metadata[SCHEMA_VERSION_KEY] == str(table.version).encode()
        assert pq.read_schema(path).names == table.schema.names
    for table in TABLES:
        doc = json.loads((warehouse_root / table.name / "_schema.json").read_text())
        assert doc["version"] == table.version
        assert [c["name"] for c in doc["columns"]] == table.schema.names


def test_a_second_run_with_nothing_new_writes_nothing(
    client: TestClient,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
) -> None:
    paid_payins(client, tenant, [10_000, 20_000])
    settle(clock)
    exporter.export()
    before = _mtimes(warehouse_root)

    settle(clock)
    again = exporter.export()

    assert _mtimes(warehouse_root) == before
    assert all(r.files == 0 and r.rows == 0 for r in again)


def test_a_refund_days_later_rewrites_the_pay_ins_day(
    client: TestClient,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    [payin] = paid_payins(client, tenant, [10_000])
    settle(clock)
    exporter.export()
    [(first_day,)] = rows_of(
        con, warehouse_root, "payment_orders", "SELECT CAST(dt AS VARCHAR) FROM {t}"
    )

    clock.advance(3 * 86_400)
    refund = client.post(
        f"/v1/payins/{payin}/refunds",
        json={"amount": 4_000},
        headers=tenant.headers(),
    )
    assert refund.status_code in (200, 201, 202), refund.text
    settle(clock)
    exporter.export()

    sql = f"SELECT CAST(dt AS VARCHAR), refunded_amount FROM {{t}} WHERE id = '{payin}'"
    assert rows_of(con, warehouse_root, "payment_orders", sql) == [(first_day, 4_000)]
    [(count, distinct)] = rows_of(
        con, warehouse_root, "payment_orders", "SELECT count(*), count(DISTINCT id) FROM {t}"
    )
    assert count == distinct == 2  # the pay-in once, its refund once
    assert len(list((warehouse_root / "payment_orders").glob(f"dt={first_day}/*.parquet"))) == 1


def test_until_exports_the_days_up_to_it_and_no_later(
    client: TestClient,
    runtime: Runtime,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    paid_payins(client, tenant, [10_000])
    first_day = clock.now().astimezone(WAREHOUSE_ZONE).date()
    clock.advance(86_400)
    paid_payins(client, tenant, [5_000])
    settle(clock)

    exporter.export(until=first_day)

    journal = _journal_per_day(runtime)
    assert _exported_per_day(con, warehouse_root) == {
        first_day.isoformat(): journal[first_day.isoformat()]
    }
    exporter.export()
    assert _exported_per_day(con, warehouse_root) == journal


def test_an_unknown_table_is_refused(exporter: WarehouseExport) -> None:
    with pytest.raises(Rejected) as refused:
        exporter.export(tables=["ledger_balances"])
    assert refused.value.code == "warehouse_table_unknown"


def test_the_scheduled_export_goes_on_past_a_failing_table(
    client: TestClient,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    paid_payins(client, tenant, [10_000])
    settle(clock)

    def broken(*_args: object) -> Iterator[Rows]:
        raise RuntimeError("the orders' read failed")

    monkeypatch.setitem(SOURCES, "payment_orders", Source(broken))
    results = {r.table: r for r in exporter.export_scheduled()}

    assert "payment_orders" not in results
    assert results["ledger_entries"].rows > 0 and results["payment_attempts"].rows > 0
    assert "warehouse export of payment_orders failed" in caplog.text


def test_a_table_another_export_holds_is_skipped_as_busy(
    exporter: WarehouseExport, warehouse_root: Path
) -> None:
    with table_lock(warehouse_root / "ledger_entries") as held:
        assert held
        [result] = exporter.export(tables=["ledger_entries"])

    assert result.status == "busy"


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        (datetime(2026, 3, 10, 15, 59, 59, 999_999, tzinfo=UTC), date(2026, 3, 10)),
        (datetime(2026, 3, 10, 16, 0, tzinfo=UTC), date(2026, 3, 11)),  # Shanghai midnight
        (datetime(2026, 3, 10, 0, 0, tzinfo=UTC), date(2026, 3, 10)),
    ],
)
def test_a_timestamps_partition_is_its_date_in_shanghai(instant: datetime, day: date) -> None:
    table = BY_NAME["ledger_entries"]
    row = (1, "tr_1", "acct_1", 10, None, "CNY", "create", "debit", 100, instant)

    assert days_of(table, to_batch(table, [row])).to_pylist() == [day]
