"""The warehouse tests' fixtures: an app with one scripted bank (`alpha`), a warehouse root
in the test's tmp_path, an exporter on the test database, and DuckDB to read it back.

Seeding goes through the real services (HTTP API, callbacks, refunds), never straight
into tables, so the export is read the way production rows are written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from paycore.clock import ManualClock
from paycore.runtime import Runtime
from paycore.warehouse.service import WarehouseExport
from tests.payments.http_conftest import (  # noqa: F401  (fixtures)
    Tenant,
    new_tenant,
    one_scripted_bank,
    paid_payin,
    runtime_with_one_scripted_bank,
)

SETTLE_S = 60.0


@pytest.fixture
def warehouse_root(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture
def exporter(runtime: Runtime, clock: ManualClock, warehouse_root: Path) -> WarehouseExport:
    """Small batches, so a test's few rows still cross page and row-group boundaries."""
    return WarehouseExport(
        runtime.engine, warehouse_root, clock, batch_rows=3, settle_s=SETTLE_S, journal_wait_s=5
    )


@pytest.fixture
def tenant(runtime: Runtime) -> Tenant:
    return new_tenant(runtime, "Warehouse Test Shop", fee_bps=100)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def scan(root: Path, table: str) -> str:
    """The DuckDB source of one warehouse table (dt from the path)."""
    return f"read_parquet('{root}/{table}/*/*.parquet', hive_partitioning=true)"


def rows_of(con: duckdb.DuckDBPyConnection, root: Path, table: str, sql: str) -> list[Any]:
    """`sql` with `{t}` standing for the table's scan; [] when it has no file yet."""
    if not list((root / table).glob("dt=*/*.parquet")):
        return []
    return con.execute(sql.format(t=scan(root, table))).fetchall()


def settle(clock: ManualClock) -> None:
    """Past the export's settle window: everything written so far is exported next."""
    clock.advance(SETTLE_S + 1)


def paid_payins(client: TestClient, tenant: Tenant, amounts: list[int]) -> list[str]:
    return [paid_payin(client, tenant, amount=amount) for amount in amounts]
