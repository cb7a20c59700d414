"""The runner's rules, for any input: a month's bounds, and the self-check's verdict."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from paycore.warehouse import report_checks, reports
from paycore.warehouse.store_checks import JournalTotal

REFUNDS = reports.load("refunds_clawbacks")
NOVEMBER = date(2026, 11, 1)


@given(st.integers(2000, 2999), st.integers(1, 12))
def test_a_month_runs_from_its_first_to_its_last_day_and_ends_at_shanghai_midnight(
    year: int, month: int
) -> None:
    parsed = reports.parse_month(f"{year:04d}-{month:02d}")
    assert parsed.start == date(year, month, 1)
    assert parsed.end == date(year, month, calendar.monthrange(year, month)[1])
    assert parsed.end_at - parsed.start_at == timedelta(days=(parsed.end - parsed.start).days + 1)
    assert parsed.start_at.hour == 16  # 00:00 in Asia/Shanghai is 16:00 UTC the day before


days = st.integers(0, 29).map(lambda n: NOVEMBER + timedelta(days=n))
refunds = st.lists(st.tuples(days, st.sampled_from(["m1", "m2"]), st.integers(1, 10**12)))


def table_of(rows: list[tuple[date, str, int]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "dt": day,
                "merchant_id": merchant,
                "currency": "CNY",
                "refund_count": 1,
                "refunds": amount,
                "clawed_back": 0,
                "claws_undone": 0,
                "merchant_cost": amount,
            }
            for day, merchant, amount in rows
        ],
        schema=REFUNDS.schema,
    )


def journal_of(rows: list[tuple[date, str, int]]) -> list[JournalTotal]:
    return [JournalTotal(day, 2001, "CNY", 5, "debit", amount) for day, _, amount in rows]


@given(refunds)
def test_a_report_that_sums_the_journals_entries_passes_its_check(
    rows: list[tuple[date, str, int]],
) -> None:
    assert report_checks.check(REFUNDS, table_of(rows), journal_of(rows)) == []


@given(refunds.filter(bool), st.data())
def test_one_amount_off_is_named_with_its_day_and_both_totals(
    rows: list[tuple[date, str, int]], data: st.DataObject
) -> None:
    n = data.draw(st.integers(0, len(rows) - 1))
    day, merchant, amount = rows[n]
    changed = [*rows[:n], (day, merchant, amount + 1), *rows[n + 1 :]]
    found = report_checks.check(REFUNDS, table_of(changed), journal_of(rows))
    journal_total = sum(a for d, _, a in rows if d == day)
    assert found == [
        report_checks.Mismatch("refunds", day, "CNY", None, journal_total + 1, journal_total)
    ]
