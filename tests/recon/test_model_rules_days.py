"""Business days, balances, warnings and the malformed-statement error of recon.model."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from paycore.recon.model import (
    WARNINGS_KEPT_MAX,
    ControlTotals,
    MalformedStatement,
    Statement,
    StatementBalance,
    StatementInfo,
    Warnings,
    business_date_of,
    day_start,
)

ONE_MICROSECOND = timedelta(microseconds=1)


def test_a_business_day_starts_at_midnight_in_shanghai_which_is_16_00_utc_the_day_before() -> None:
    start = day_start(date(2026, 11, 25))

    assert start == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert start.utcoffset() == timedelta(0)


def test_a_day_starts_at_a_utc_instant_whatever_the_machines_own_timezone() -> None:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        start = day_start(date(2026, 11, 25))
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()

    assert start.utcoffset() == timedelta(0)
    assert (start.date(), start.hour) == (date(2026, 11, 24), 16)


def test_an_instant_belongs_to_the_business_day_of_its_shanghai_wall_clock() -> None:
    assert business_date_of(datetime(2026, 11, 24, 15, 59, 59, 999_999, UTC)) == date(2026, 11, 24)
    assert business_date_of(datetime(2026, 11, 24, 16, 0, tzinfo=UTC)) == date(2026, 11, 25)
    assert business_date_of(datetime(2026, 11, 25, 15, 59, tzinfo=UTC)) == date(2026, 11, 25)


@given(day=st.dates(min_value=date(1971, 1, 1), max_value=date(2999, 12, 31)))
def test_every_day_starts_at_its_own_first_instant_and_the_one_before_is_the_day_before(
    day: date,
) -> None:
    start = day_start(day)

    assert business_date_of(start) == day
    assert business_date_of(start - ONE_MICROSECOND) == day - timedelta(days=1)
    assert day_start(day + timedelta(days=1)) - start == timedelta(days=1)  # no DST in China


def _balance(
    opening: int | None, closing: int | None, credits: int, debits: int
) -> StatementBalance:
    return StatementBalance(
        statement_id="S1", account="CN01", currency="CNY", line=1, business_date=None,
        opening=opening, closing=closing, credits=credits, debits=debits,
    )  # fmt: skip


def test_a_statement_without_both_balances_has_no_difference_to_check() -> None:
    assert _balance(None, 500, 100, 0).difference is None
    assert _balance(500, None, 100, 0).difference is None
    assert _balance(None, None, 100, 0).difference is None


def test_the_difference_is_what_the_closing_balance_states_beyond_the_entries() -> None:
    # 100.00 opening + 50.00 in - 20.00 out makes 130.00; the bank says 135.00: 5.00 more.
    assert _balance(10_000, 13_500, 5_000, 2_000).difference == 500
    assert _balance(10_000, 12_500, 5_000, 2_000).difference == -500


@given(
    opening=st.integers(-(10**15), 10**15),
    credits=st.integers(0, 10**15),
    debits=st.integers(0, 10**15),
)
def test_a_closing_balance_the_entries_explain_has_no_difference(
    opening: int, credits: int, debits: int
) -> None:
    closing = opening + credits - debits

    assert _balance(opening, closing, credits, debits).difference == 0


def test_every_warning_is_counted_and_the_first_hundred_are_kept() -> None:
    warnings = Warnings()
    texts = [f"entry {n}: no booking date" for n in range(WARNINGS_KEPT_MAX + 1)]
    for text in texts[:WARNINGS_KEPT_MAX]:
        warnings.add(text)

    assert (warnings.count, warnings.kept) == (WARNINGS_KEPT_MAX, texts[:WARNINGS_KEPT_MAX])

    warnings.add(texts[-1])

    assert (warnings.count, warnings.kept) == (WARNINGS_KEPT_MAX + 1, texts[:WARNINGS_KEPT_MAX])
    assert WARNINGS_KEPT_MAX == 100


def test_a_statement_starts_with_no_totals_warnings_or_balances() -> None:
    info = StatementInfo(format="sandbox_csv", source="sandbox", statement_id="s.csv")
    lines = iter(())
    statement = Statement(info, lines)

    assert statement.info is info
    assert statement.lines is lines
    assert statement.totals == ControlTotals(count=None, credits=None, debits=None)
    assert (statement.warnings.count, statement.warnings.kept) == (0, [])
    assert statement.balances == []


def test_a_malformed_statement_names_the_line_and_the_field_it_knows() -> None:
    both = MalformedStatement("bad", line=3, field="Amt")
    line_only = MalformedStatement("bad", line=3)
    field_only = MalformedStatement("bad", field="Amt")
    neither = MalformedStatement("bad")

    assert both.code == "malformed_statement"
    assert both.detail == "line 3, field Amt: bad"
    assert line_only.detail == "line 3: bad"
    assert field_only.detail == "field Amt: bad"
    assert neither.detail == "bad"
    assert (both.line, both.field) == (3, "Amt")
    assert (neither.line, neither.field) == (None, None)
    assert str(both) == "malformed_statement: line 3, field Amt: bad"


def test_line_zero_stands_for_no_line_such_as_a_files_footer() -> None:
    footer = MalformedStatement("the footer says 5", line=0, field="footer")

    assert footer.detail == "field footer: the footer says 5"
