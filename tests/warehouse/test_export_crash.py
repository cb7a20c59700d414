"""A crash at any point of an export leaves nothing half-visible, and the next run
converges: every row exported exactly once (DuckDB: count(*) = count(DISTINCT key))."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from paycore.clock import ManualClock
from paycore.ledger.store import entries, transfers
from paycore.payments.store import attempts, orders
from paycore.runtime import Runtime
from paycore.warehouse.service import WarehouseExport
from tests.payments.http_conftest import Tenant
from tests.warehouse.conftest import paid_payins, rows_of, settle

CHECKED = {
    "ledger_entries": (entries, "seq"),
    "ledger_transfers": (transfers, "id"),
    "payment_orders": (orders, "id"),
    "payment_attempts": (attempts, "id"),
}


class Crash(Exception):
    """The process dying at the injected point."""


def _crash_at(point: str, *, after: int = 0) -> object:
    seen = {"n": 0}

    def fault(reached: str) -> None:
        if reached == point:
            seen["n"] += 1
            if seen["n"] > after:
                raise Crash(point)

    return fault


def _assert_each_row_once(runtime: Runtime, root: Path, con: duckdb.DuckDBPyConnection) -> None:
    with runtime.engine.connect() as conn:
        for name, (table, key) in CHECKED.items():
            expected = conn.execute(select(func.count()).select_from(table)).scalar_one()
            sql = f"SELECT count(*), count(DISTINCT {key}) FROM {{t}}"
            assert rows_of(con, root, name, sql) == [(expected, expected)], name


@pytest.mark.parametrize("table", sorted(CHECKED))
def test_a_crash_between_the_rename_and_the_watermark_is_resumed_with_each_row_once(
    table: str,
    client: TestClient,
    runtime: Runtime,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    paid_payins(client, tenant, [10_000, 2_000])
    clock.advance(86_400)
    paid_payins(client, tenant, [3_000])
    settle(clock)
    exporter.export()  # every table has files and a watermark
    clock.advance(86_400)
    paid_payins(client, tenant, [4_000, 5_000])
    settle(clock)

    with pytest.raises(Crash):
        exporter.export(tables=[table], fault=_crash_at("before_watermark"))
    clock.advance(600)
    paid_payins(client, tenant, [6_000])  # more arrives before the re-run
    settle(clock)
    results = {r.table: r for r in exporter.export()}
    exporter.export()

    assert results[table].status == "resumed"
    _assert_each_row_once(runtime, warehouse_root, con)


def test_a_crash_after_the_first_day_is_renamed_converges_on_the_next_run(
    client: TestClient,
    runtime: Runtime,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    paid_payins(client, tenant, [10_000])
    clock.advance(86_400)
    paid_payins(client, tenant, [2_000, 3_000])
    settle(clock)

    for table in CHECKED:
        with pytest.raises(Crash):
            exporter.export(tables=[table], fault=_crash_at("after_rename"))
    exporter.export()

    _assert_each_row_once(runtime, warehouse_root, con)


def test_a_crash_while_rows_stream_in_leaves_no_visible_file_and_its_leftovers_go(
    client: TestClient,
    runtime: Runtime,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    paid_payins(client, tenant, [10_000, 2_000, 3_000])
    settle(clock)

    def dies_mid_stream(_table: str, rows: int) -> None:
        raise Crash("mid-stream")

    with pytest.raises(Crash):
        exporter.export(tables=["ledger_entries"], progress=dies_mid_stream)
    assert list(warehouse_root.glob("*/dt=*/*.parquet")) == []
    killed = warehouse_root / "ledger_entries" / "dt=2026-01-01" / ".tmp-whr_killed.partial"
    killed.parent.mkdir(parents=True, exist_ok=True)
    killed.write_bytes(b"PAR1 half a file")  # what a kill -9 mid-write leaves

    exporter.export()
    assert [p for p in warehouse_root.glob("*/dt=*/.*") if p.name != ".lock"] == []
    _assert_each_row_once(runtime, warehouse_root, con)
