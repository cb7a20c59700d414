"""A report's rows as CSV (UTF-8, formula-safe), XLSX (integers stay integers) and SVG
(bars whose values are the rows' sums, for one currency at a time)."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import pyarrow as pa
import pytest

from paycore.errors import Rejected
from paycore.warehouse import reports
from paycore.warehouse.report_chart import chart_svg
from paycore.warehouse.report_outputs import csv_text, table_text, write_xlsx
from tests.bills.exports_kit import read_xlsx

SVG = "{http://www.w3.org/2000/svg}"
PAYOUTS = reports.load("payout_outcomes")
CUSTODY = reports.load("custody_auto_refunds")
BIG = 2**62


def payouts(channel: str) -> pa.Table:
    rows = [
        {
            "channel": channel,
            "currency": "CNY",
            "status": "failed",
            "failure_class": "user",
            "payouts": 3,
            "amount": BIG,
            "fees": 120,
        },
        {
            "channel": "wechat",
            "currency": "CNY",
            "status": "succeeded",
            "failure_class": "",
            "payouts": 1,
            "amount": 5_000,
            "fees": 10,
        },
    ]
    return pa.Table.from_pylist(rows, schema=PAYOUTS.schema)


def custody() -> pa.Table:
    rows = []
    for day, bank, currency, received, refunded in (
        (1, "bank_north", "CNY", 1_000, 100),
        (1, "bank_south", "CNY", 3_000, 0),
        (2, "bank_north", "CNY", 500, 500),
        (2, "bank_north", "USD", 9_999_999, 0),
    ):
        rows.append(
            {
                "dt": date(2026, 11, day),
                "bank": bank,
                "currency": currency,
                "receipts": 1,
                "received": received,
                "matched": 0,
                "refunded_count": 1,
                "refunded": refunded,
                "refund_failed": 0,
                "still_open": 0,
            }
        )
    return pa.Table.from_pylist(rows, schema=CUSTODY.schema)


def test_the_csv_is_utf8_with_a_bom_and_quotes_text_that_would_run_as_a_formula() -> None:
    text = csv_text(PAYOUTS, payouts('=HYPERLINK("http://x")'))
    assert text.startswith("\ufeffchannel,currency,status")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[1][0] == '\'=HYPERLINK("http://x")'
    assert rows[1][5] == str(BIG)  # an integer, every digit, never 4.6e18
    assert rows[2][0] == "wechat"


def test_the_xlsx_keeps_integers_as_numbers_and_says_what_each_column_means(
    tmp_path: Path,
) -> None:
    path = tmp_path / "payouts.xlsx"
    write_xlsx(PAYOUTS, payouts("+cmd"), path)
    sheets = read_xlsx(path.read_bytes())
    rows = sheets["payout_outcomes"]
    assert rows[0] == [c.name for c in PAYOUTS.columns]
    assert rows[1][0] == "+cmd"  # a string cell: never read as a formula
    assert rows[1][4:] == [3, str(BIG), 120]  # past Excel's 15 digits: text, not rounded
    assert rows[2][4:] == [1, 5_000, 10]
    about = sheets["about"]
    assert about[0] == [PAYOUTS.title_zh, PAYOUTS.title_en]
    assert ["amount", "int64: their amounts, minor units"] in about


def test_the_chart_draws_per_day_sums_for_one_currency() -> None:
    svg = ElementTree.fromstring(chart_svg(CUSTODY, custody()))
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("data-value") is not None]
    assert [int(r.get("data-value", "")) for r in bars] == [4_000, 100, 500, 500]
    assert svg.findtext(f"{SVG}title") == "Custody auto-refunds (CNY)"
    usd = ElementTree.fromstring(chart_svg(CUSTODY, custody(), currency="USD"))
    assert [r.get("data-value") for r in usd.iter(f"{SVG}rect") if r.get("data-value")] == [
        "9999999",
        "0",
    ]


def test_a_chart_of_a_currency_the_report_lacks_or_of_a_report_without_one_is_refused() -> None:
    with pytest.raises(Rejected) as refused:
        chart_svg(CUSTODY, custody(), currency="EUR")
    assert refused.value.code == "currency_not_in_report"
    with pytest.raises(Rejected) as refused:
        chart_svg(PAYOUTS, payouts("x"))
    assert refused.value.code == "report_has_no_chart"


def test_the_text_table_aligns_numbers_right() -> None:
    text = table_text(PAYOUTS, payouts("alipay"))
    lines = text.splitlines()
    assert lines[0] == f"{PAYOUTS.title_zh} / {PAYOUTS.title_en}"
    assert lines[-1] == "(2 rows)"
    assert lines[3].split()[-3:] == ["1", "5000", "10"]
