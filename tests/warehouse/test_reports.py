"""The reports on DuckDB over the kit's warehouse: their figures against the same facts
summed in Python, their self-checks against the kit's journal, and their refusals."""

from __future__ import annotations

import math
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from paycore.errors import InvariantViolation, Rejected
from paycore.warehouse import report_checks, reports
from paycore.warehouse.engines import DuckDBEngine
from tests.warehouse.report_kit import BREAKS, MONTH, Kit, local_day, seeded

NOVEMBER = reports.parse_month(MONTH)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Kit]:
    root = tmp_path_factory.mktemp("warehouse")
    return root, seeded(root)


@pytest.fixture(scope="module")
def duck(warehouse: tuple[Path, Kit]) -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(warehouse[0])
    yield engine
    engine.close()


def rows_of(duck: DuckDBEngine, name: str) -> list[dict[str, Any]]:
    table = reports.run_on(duck, reports.load(name), NOVEMBER)
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def in_month(day: date) -> bool:
    return NOVEMBER.start <= day <= NOVEMBER.end


def test_there_are_at_least_ten_reports_each_with_titles_columns_and_a_check_or_a_reason() -> None:
    names = reports.names()
    assert len(names) >= 10
    for name in names:
        report = reports.load(name)
        assert report.title_zh and report.title_en and report.answers
        assert all(c.doc for c in report.columns)
        assert report.checks or report.check_note, name


def test_every_report_returns_its_declared_columns_and_types(duck: DuckDBEngine) -> None:
    for name in reports.names():
        report = reports.load(name)
        table = reports.run_on(duck, report, NOVEMBER)
        assert table.schema == report.schema, name
        assert table.num_rows > 0, name


def test_daily_settlement_sums_each_merchants_payins_fees_and_refunds_per_day(
    warehouse: tuple[Path, Kit], duck: DuckDBEngine
) -> None:
    expected: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for o in warehouse[1].rows["payment_orders"]:
        day = local_day(o["created_at"])
        if o["status"] != "succeeded" or not in_month(day) or o["kind"] == "payout":
            continue
        sums = expected[(day, o["merchant_id"], o["currency"])]
        if o["kind"] == "payin":
            sums[0] += 1
            sums[1] += o["amount"]
            sums[2] += o["fee_amount"]
        else:
            sums[3] += o["amount"]
    got = {
        (r["dt"], r["merchant_id"], r["currency"]): [
            r["payins"],
            r["pay_ins"],
            r["fees"],
            r["refunds"],
        ]
        for r in rows_of(duck, "daily_settlement")
    }
    assert got == expected
    for r in rows_of(duck, "daily_settlement"):
        assert r["net"] == r["pay_ins"] - r["fees"] - r["refunds"] == r["wallet_in"] - r["refunds"]


def test_break_aging_buckets_the_breaks_open_at_the_months_end_by_their_age(
    duck: DuckDBEngine,
) -> None:
    limits = ((7, "0-7"), (30, "8-30"), (60, "31-60"), (90, "61-90"), (10**6, "90+"))
    expected: Counter[tuple[str, str, str]] = Counter()
    amounts: Counter[tuple[str, str, str]] = Counter()
    for day, status, updated, source, currency, amount in BREAKS:
        if day > NOVEMBER.end or (status == "resolved" and updated < NOVEMBER.end_at):
            continue
        age = (NOVEMBER.end - day).days
        bucket = next(label for limit, label in limits if age <= limit)
        expected[(source, currency or "", bucket)] += 1
        amounts[(source, currency or "", bucket)] += amount or 0
    rows = rows_of(duck, "break_aging")
    assert {(r["source"], r["currency"], r["age_bucket"]): r["breaks"] for r in rows} == expected
    assert {
        (r["source"], r["currency"], r["age_bucket"]): r["line_amount"] for r in rows
    } == amounts


def test_channel_success_counts_tries_and_takes_nearest_rank_latency_percentiles(
    warehouse: tuple[Path, Kit], duck: DuckDBEngine
) -> None:
    tries: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in warehouse[1].rows["payment_attempts"]:
        if in_month(a["business_date"]):
            tries[(a["channel"], a["kind"])].append(a)
    got = {(r["channel"], r["kind"]): r for r in rows_of(duck, "channel_success")}
    assert got.keys() == tries.keys()
    for key, its in tries.items():
        row = got[key]
        successes = sum(a["status"] == "succeeded" for a in its)
        excused = sum(a["failure_class"] in ("user", "merchant") for a in its)
        latencies = sorted(a["latency_ms"] for a in its if a["latency_ms"] is not None)
        assert (row["attempts"], row["successes"]) == (len(its), successes)
        assert row["success_ppm"] == successes * 1_000_000 // len(its)
        assert row["effective_success_ppm"] == successes * 1_000_000 // (len(its) - excused)
        for p in (50, 95, 99):
            rank = math.ceil(p * len(latencies) / 100)
            assert row[f"latency_p{p}_ms"] == latencies[rank - 1], (key, p)


def test_custody_auto_refunds_split_each_banks_receipts_by_outcome(
    warehouse: tuple[Path, Kit], duck: DuckDBEngine
) -> None:
    expected: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in warehouse[1].rows["custody_receipts"]:
        if in_month(r["business_date"]):
            sums = expected[(r["business_date"], r["bank"])]
            sums[0] += r["amount"]
            sums[1] += r["status"] == "refunded"
            sums[2] += r["amount"] if r["status"] == "refunded" else 0
            sums[3] += r["amount"] if r["status"] == "matched" else 0
    got = {
        (r["dt"], r["bank"]): [r["received"], r["refunded_count"], r["refunded"], r["matched"]]
        for r in rows_of(duck, "custody_auto_refunds")
    }
    assert got == expected


def test_a_collection_period_counts_once_however_many_tries_it_took(duck: DuckDBEngine) -> None:
    (row,) = rows_of(duck, "collection_success")
    assert row["due_date"] == date(2026, 11, 1)
    assert (row["periods"], row["collected"], row["first_try"], row["attempts"]) == (4, 3, 2, 6)
    assert (row["success_ppm"], row["first_try_ppm"]) == (750_000, 500_000)


def test_the_reports_that_check_themselves_agree_with_the_journal(
    warehouse: tuple[Path, Kit], duck: DuckDBEngine
) -> None:
    journal = warehouse[1].journal(NOVEMBER.start, NOVEMBER.end)
    checked = [n for n in reports.names() if reports.load(n).checks]
    assert {"daily_settlement", "journal_daily", "refunds_clawbacks"} <= set(checked)
    for name in checked:
        report = reports.load(name)
        assert report_checks.check(report, reports.run_on(duck, report, NOVEMBER), journal) == [], (
            name
        )


def test_a_day_missing_from_the_warehouse_is_named_with_both_amounts(
    warehouse: tuple[Path, Kit], tmp_path: Path
) -> None:
    root = tmp_path / "warehouse"
    shutil.copytree(warehouse[0], root)
    for part in (root / "ledger_entries" / "dt=2026-11-02").glob("*.parquet"):
        part.unlink()
    engine = DuckDBEngine(root)
    report = reports.load("journal_daily")
    found = report_checks.check(
        report,
        reports.run_on(engine, report, NOVEMBER),
        warehouse[1].journal(NOVEMBER.start, NOVEMBER.end),
    )
    engine.close()
    assert found
    assert {m.day for m in found} == {date(2026, 11, 2)}
    assert all(m.report_amount == 0 and m.journal_amount > 0 for m in found)


def test_rows_come_as_tuples_in_the_declared_order_too(duck: DuckDBEngine) -> None:
    report = reports.load("collection_success")
    table = reports.run_on(duck, report, NOVEMBER)
    assert reports.as_tuples(table) == [tuple(r.values()) for r in table.to_pylist()]
    assert reports.as_tuples(table)[0][:3] == ("mch_b", "CNY", date(2026, 11, 1))


def test_an_empty_warehouse_gives_every_report_no_rows(tmp_path: Path) -> None:
    engine = DuckDBEngine(tmp_path)
    for name in reports.names():
        report = reports.load(name)
        assert reports.run_on(engine, report, NOVEMBER).num_rows == 0, name
    engine.close()


def test_older_files_without_a_later_column_still_read(tmp_path: Path) -> None:
    kit = seeded(tmp_path)
    part = next((tmp_path / "payment_attempts").glob("dt=2026-11-01/*.parquet"))
    pq.write_table(pq.read_table(part).drop_columns(["latency_ms"]), part)
    engine = DuckDBEngine(tmp_path)
    rows = reports.run_on(engine, reports.load("channel_success"), NOVEMBER).to_pylist()
    engine.close()
    assert sum(r["attempts"] for r in rows) == sum(
        in_month(a["business_date"]) for a in kit.rows["payment_attempts"]
    )


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-1", "26-11", "2026-11'; DROP", "\uff11\uff19\uff19\uff19-01", ""]
)
def test_a_bad_month_is_refused(month: str) -> None:
    with pytest.raises(Rejected) as refused:
        reports.parse_month(month)
    assert refused.value.code == "invalid_month"


@pytest.mark.parametrize("name", ["nope", "../schemas", "daily_settlement.sql", "DAILY"])
def test_an_unknown_report_is_refused(name: str) -> None:
    with pytest.raises(Rejected) as refused:
        reports.load(name)
    assert refused.value.code == "unknown_report"


def test_parameters_become_date_literals_the_runner_makes(warehouse: tuple[Path, Kit]) -> None:
    sql = reports.render(reports.load("break_aging"), NOVEMBER)
    assert "DATE '2026-11-30'" in sql and "TIMESTAMP '2026-11-30 16:00:00'" in sql
    assert ":month" not in sql
    december = reports.parse_month("2026-12")
    assert (december.start, december.end) == (date(2026, 12, 1), date(2026, 12, 31))


def test_an_unknown_engine_or_a_missing_warehouse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Rejected) as refused:
        reports.open_warehouse(tmp_path, "oracle")
    assert refused.value.code == "unknown_engine"
    with pytest.raises(Rejected) as refused:
        reports.open_warehouse(tmp_path / "absent")
    assert refused.value.code == "warehouse_not_found"


def test_a_report_whose_header_names_a_column_it_does_not_return_is_broken() -> None:
    report = reports.load("payout_outcomes")
    with pytest.raises(InvariantViolation):
        reports.conform(report, reports.conform(report, _empty(report)).drop_columns(["fees"]))


def _empty(report: reports.Report) -> Any:
    return report.schema.empty_table()
