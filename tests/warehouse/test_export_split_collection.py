"""Splits (with their legs as stored, and a claw-back days later rewriting their day) and
rent collection attempts, exported with their keys once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from paycore.clock import ManualClock
from paycore.runtime import Runtime
from paycore.split.model import Share
from paycore.warehouse.service import WarehouseExport
from tests.collection import conftest as collection_kit
from tests.collection.conftest import terms, top_up
from tests.payments.http_conftest import Tenant
from tests.split import conftest as split_kit
from tests.split.conftest import Shop
from tests.warehouse.conftest import rows_of, settle

agency, shop = collection_kit.agency, split_kit.shop  # those slices' fixtures


def test_a_split_exports_its_legs_and_a_later_claw_back_rewrites_its_day(
    shop: Shop,
    clock: ManualClock,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    shop.open("alice")
    shop.rule(Share("alice", bps=5_000))
    payin = shop.pay(10_000)
    settle(clock)
    exporter.export(tables=["split_splits"])
    sql = "SELECT id, payin_id, refunded, legs_json, CAST(dt AS VARCHAR) FROM {t}"
    [(split_id, paid_by, refunded, legs, day)] = rows_of(con, warehouse_root, "split_splits", sql)
    assert (paid_by, refunded) == (payin.id, 0)
    assert "alice" in json.dumps(json.loads(legs))

    clock.advance(2 * 86_400)
    shop.refund_answers()
    shop.splits.refund(
        merchant_id=shop.merchant_id, split_id=split_id, amount=4_000, idempotency_key="claw-1"
    )
    settle(clock)
    exporter.export(tables=["split_splits"])

    [(again, _, refunded, _, same_day)] = rows_of(con, warehouse_root, "split_splits", sql)
    assert (again, refunded, same_day) == (split_id, 4_000, day)


def test_collection_attempts_export_with_their_plans_amount_and_due_date(
    runtime: Runtime,
    agency: Tenant,
    clock: ManualClock,
    exporter: WarehouseExport,
    warehouse_root: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    plan = runtime.collection.create(agency.id, terms())
    top_up(runtime, agency.id, "tenant1", 300_000)
    due = datetime(2026, 1, 31, 16, 0, tzinfo=UTC)  # 1 February in Shanghai
    runtime.collection.run_due(due)
    clock.advance((due + timedelta(days=1) - clock.now()).total_seconds())
    settle(clock)

    exporter.export(tables=["collection_attempts"])

    rows = rows_of(
        con,
        warehouse_root,
        "collection_attempts",
        "SELECT plan_id, merchant_id, status, amount, CAST(due_date AS VARCHAR) FROM {t}",
    )
    assert rows == [(plan.id, agency.id, "succeeded", 300_000, "2026-02-01")]
