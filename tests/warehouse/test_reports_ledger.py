"""The reports' self-check against paycore's database: the journal's totals per Shanghai
day (store_checks.py) on SQLite and PostgreSQL, and, end to end, pay-ins and a refund made
through the real services, exported, and every report run and checked against them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.ledger.model import TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.runtime import Runtime
from paycore.warehouse import report_checks, reports
from paycore.warehouse.engines import DuckDBEngine
from paycore.warehouse.schemas import WAREHOUSE_ZONE
from paycore.warehouse.service import WarehouseExport
from paycore.warehouse.store_checks import JournalTotal, journal_totals
from tests.payments.http_conftest import Tenant, notify
from tests.warehouse.conftest import paid_payins, settle

JANUARY = reports.parse_month("2026-01")


def test_the_journal_totals_are_per_shanghai_day_not_per_utc_day(
    ledger: Ledger, clock: ManualClock, engine: Engine
) -> None:
    ledger.create_accounts(
        [
            AccountRequest(id="acct_clr_x_CNY", currency="CNY", code=1101),
            AccountRequest(id="acct_mw_m1_CNY", currency="CNY", code=2001, owner_id="m1"),
        ]
    )
    clock.advance(15.5 * 3600)  # 2026-01-01 15:30 UTC: 23:30 in Shanghai
    move = {"debit_account_id": "acct_clr_x_CNY", "credit_account_id": "acct_mw_m1_CNY"}
    ledger.create_transfers([TransferRequest("tr_1", amount=100, currency="CNY", code=1, **move)])
    clock.advance(3600)  # 16:30 UTC, the same UTC day: 00:30 on 2 January in Shanghai
    ledger.create_transfers([TransferRequest("tr_2", amount=40, currency="CNY", code=1, **move)])
    ledger.create_transfers([TransferRequest("tr_3", amount=7, currency="CNY", code=2, **move)])

    with engine.connect() as conn:
        totals = journal_totals(conn, start_at=JANUARY.start_at, end_at=JANUARY.end_at)

    first, second = date(2026, 1, 1), date(2026, 1, 2)
    assert sorted(totals, key=lambda t: (t.day, t.transfer_code, t.side)) == [
        JournalTotal(first, 2001, "CNY", 1, "credit", 100),
        JournalTotal(first, 1101, "CNY", 1, "debit", 100),
        JournalTotal(second, 2001, "CNY", 1, "credit", 40),
        JournalTotal(second, 1101, "CNY", 1, "debit", 40),
        JournalTotal(second, 2001, "CNY", 2, "credit", 7),
        JournalTotal(second, 1101, "CNY", 2, "debit", 7),
    ]
    with engine.connect() as conn:
        december = reports.parse_month("2025-12")
        assert journal_totals(conn, start_at=december.start_at, end_at=december.end_at) == []


def test_reports_over_an_export_of_real_payments_agree_with_the_ledger(
    client: TestClient,
    runtime: Runtime,
    clock: ManualClock,
    tenant: Tenant,
    exporter: WarehouseExport,
    warehouse_root: Path,
    database_url: str,
) -> None:
    payins = paid_payins(client, tenant, [10_000, 2_500])
    clock.advance(86_400)
    paid_payins(client, tenant, [7_700, 300])
    refund = client.post(
        f"/v1/payins/{payins[0]}/refunds", json={"amount": 4_000}, headers=tenant.headers()
    )
    assert refund.status_code in (200, 201, 202), refund.text
    paid = notify(client, refund.json()["id"], operation="refund")
    assert paid.status_code == 200, paid.text
    settle(clock)
    exporter.export()
    month = reports.parse_month(clock.now().astimezone(WAREHOUSE_ZONE).strftime("%Y-%m"))

    engine = DuckDBEngine(warehouse_root)
    results = {n: reports.run_on(engine, reports.load(n), month) for n in reports.names()}
    engine.close()

    settlement = results["daily_settlement"].to_pylist()
    assert sum(r["pay_ins"] for r in settlement) == 20_500
    assert sum(r["payins"] for r in settlement) == 4
    assert {r["merchant_id"] for r in settlement} == {tenant.id}
    assert sum(r["refunds"] for r in settlement) == 4_000
    assert [r["refunds"] for r in results["refunds_clawbacks"].to_pylist()] == [4_000]
    assert results["journal_daily"].num_rows > 0
    for name, table in results.items():
        report = reports.load(name)
        assert report_checks.check_with_ledger(report, table, month, database_url) == [], name
