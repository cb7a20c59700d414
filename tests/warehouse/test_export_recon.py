"""Statement lines and breaks: lines are re-read by the days their imports and runs
touched, breaks by their updated_at; a break resolved days later rewrites its day."""

from __future__ import annotations

from pathlib import Path

import duckdb
from sqlalchemy import func, select

from paycore.clock import ManualClock
from paycore.recon.model import Direction, LineKind, Statement, StatementInfo, StatementLine
from paycore.recon.service import Recon
from paycore.recon.store import breaks, lines
from paycore.runtime import Runtime
from paycore.warehouse.service import WarehouseExport
from tests.payments.fakes import ScriptedChannel
from tests.recon import conftest as recon_kit
from tests.recon.conftest import DAY, START, Row, pay, write_statement
from tests.warehouse.conftest import rows_of, settle

# The recon tests' fixtures: one scripted bank with its contracted fee, their clock.
alpha, clock, runtime = recon_kit.alpha, recon_kit.clock, recon_kit.runtime
recon, merchant_id = recon_kit.recon, recon_kit.merchant_id


def _count(app: Runtime, table: object) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_lines_and_breaks_export_to_their_business_day_and_a_late_resolution_rewrites_it(
    recon: Recon,
    runtime: Runtime,
    alpha: ScriptedChannel,
    merchant_id: str,
    clock: ManualClock,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
) -> None:
    order = pay(runtime, alpha, merchant_id, amount=3_000, txn="T1")
    statement = [
        Row("P1", 3_000, channel_txn_id="T1", fee=30),
        Row("IN", 7_700),  # money with no order: a break
    ]
    recon.import_file(
        write_statement(tmp_path / "d.csv", statement), format="test_csv", source="alpha"
    )
    recon.run(source="alpha", business_date=DAY)
    settle(clock)
    exporter.export(tables=["recon_lines", "recon_breaks"])

    assert rows_of(
        con,
        warehouse_root,
        "recon_lines",
        "SELECT CAST(dt AS VARCHAR), count(*), count(order_id) FROM {t} GROUP BY dt",
    ) == [(DAY.isoformat(), 2, 1)]
    [(matched,)] = rows_of(
        con, warehouse_root, "recon_lines", "SELECT order_id FROM {t} WHERE source_ref = 'P1'"
    )
    assert matched == order.id
    opened = rows_of(
        con, warehouse_root, "recon_breaks", "SELECT id, status, CAST(dt AS VARCHAR) FROM {t}"
    )
    assert len(opened) == _count(runtime, breaks) >= 1
    break_id = opened[0][0]

    clock.advance(4 * 86_400)
    recon.resolve(break_id, actor="ops", note="booked by hand after a call")
    settle(clock)
    exporter.export(tables=["recon_lines", "recon_breaks"])

    sql = f"SELECT status, CAST(dt AS VARCHAR) FROM {{t}} WHERE id = {break_id}"
    assert rows_of(con, warehouse_root, "recon_breaks", sql) == [("resolved", DAY.isoformat())]
    [(count, distinct)] = rows_of(
        con, warehouse_root, "recon_breaks", "SELECT count(*), count(DISTINCT id) FROM {t}"
    )
    assert count == distinct == _count(runtime, breaks)
    [(line_count,)] = rows_of(con, warehouse_root, "recon_lines", "SELECT count(*) FROM {t}")
    assert line_count == _count(runtime, lines)


def test_a_lines_sealed_account_is_exported_as_its_blind_token_never_in_clear(
    recon: Recon,
    runtime: Runtime,
    clock: ManualClock,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    account = "6217000010009876543"
    line = StatementLine(
        line_no=1,
        source_ref="VA-1",
        kind=LineKind.PAYIN,
        direction=Direction.CREDIT,
        amount=5_000,
        currency="CNY",
        booked_at=START,
        account=account,
    )
    statement = Statement(StatementInfo("test_csv", "alpha", "va.csv"), iter([line]))
    recon.import_statement(statement, file_sha256="a" * 64, source="alpha", carries_fee=True)
    settle(clock)

    WarehouseExport.for_runtime(runtime).export(tables=["recon_lines"])

    expected = runtime.blind_index.indexer.lookup_tokens("account_number", account)[0]
    sql = "SELECT account_token FROM {t} WHERE source_ref = 'VA-1'"
    assert rows_of(con, warehouse_root, "recon_lines", sql) == [(expected,)]
    for path in warehouse_root.rglob("*.parquet"):
        assert account.encode() not in path.read_bytes()
