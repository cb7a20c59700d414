"""Custody receipts: exported on their business day, and the cut-off's auto-refund after
midnight rewrites that day's partition (the receipt once, refunded)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from paycore.clock import ManualClock
from paycore.warehouse.service import WarehouseExport
from tests.custody import conftest as custody_kit
from tests.custody.conftest import Desk
from tests.custody.test_cutoff import DAY, MIDNIGHT
from tests.payments.fakes import succeeded
from tests.warehouse.conftest import rows_of, settle

# The custody tests' fixtures: two custody banks, the clock an hour before the cut-off.
alpha, clock, desk, runtime = (
    custody_kit.alpha,
    custody_kit.clock,
    custody_kit.desk,
    custody_kit.runtime,
)


def test_a_receipt_refunded_at_the_cutoff_is_rewritten_in_its_day_once(
    desk: Desk,
    clock: ManualClock,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    kept, refunded = desk.pay("buyer-1", 10_000), desk.pay("buyer-2", 25_000)
    deal = desk.runtime.custody.create_deal(
        desk.merchant_id,
        bank="sandbox_custody",
        buyer="buyer-1",
        seller="seller-1",
        agency="agency-1",
        deposit_amount=10_000,
    )
    desk.runtime.custody.match(desk.merchant_id, receipt_id=kept, deal_id=deal.id)
    settle(clock)
    exporter.export(tables=["custody_receipts"])
    sql = "SELECT id, status, CAST(dt AS VARCHAR) FROM {t} ORDER BY amount"
    before = rows_of(con, warehouse_root, "custody_receipts", sql)

    desk.move_to(MIDNIGHT)
    desk.alpha.then(succeeded())
    desk.runtime.custody.run_cutoff("sandbox_custody", DAY)
    settle(clock)
    exporter.export(tables=["custody_receipts"])

    after = rows_of(con, warehouse_root, "custody_receipts", sql)
    assert [(r[0], r[2]) for r in before] == [(kept, DAY.isoformat()), (refunded, DAY.isoformat())]
    assert [r[0] for r in after] == [kept, refunded]
    assert after[0][1] == before[0][1] == "matched"
    assert after[1][1] != before[1][1]  # auto-refunded, in the same day's partition
    assert len(list((warehouse_root / "custody_receipts").glob("dt=*/*.parquet"))) == 1
