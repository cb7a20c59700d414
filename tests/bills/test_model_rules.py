"""bills.model pinned by known answers: every bill line `classify` gives, periods at
Shanghai midnights (UTC+8 all year since 1992) up to the calendar's edges, and whose
accounts a statement holds (the statement's own rules: test_model_rules_statement.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.bills.model import (
    Category,
    Period,
    bill_day_of,
    classify,
    day_period,
    month_of,
    month_period,
    owner_matches,
    period_of,
    previous_month,
)
from paycore.errors import Rejected

C = Category
# Written out from the flows' transfer ids and codes, not read from the module.
FLOW_LINES: dict[tuple[str, int], Category] = {
    ("tr_pay_", 1): C.PAYIN, ("tr_pay_", 2): C.FEE, ("tr_rf_", 5): C.REFUND,
    ("tr_po_", 3): C.PAYOUT, ("tr_po_", 4): C.PAYOUT_RETURN,
    ("tr_cus_", 40): C.CUSTODY_RECEIPT, ("tr_cus_", 41): C.CUSTODY_REFUND,
    ("tr_cus_", 42): C.CUSTODY_MATCH, ("tr_cus_", 43): C.CUSTODY_MATCH,
    ("tr_col_", 50): C.COLLECTION, ("tr_col_", 51): C.FEE, ("tr_col_", 52): C.PAYOUT,
    ("tr_top_", 20): C.TOP_UP, ("tr_rpy_", 21): C.DEBT_REPAYMENT,
    ("tr_rbf_", 60): C.REWARD, ("tr_rw_", 61): C.REWARD, ("tr_rbw_", 62): C.REWARD,
    ("tr_adj_", 30): C.ADJUSTMENT, ("tr_susp_", 29): C.ADJUSTMENT,
    ("tr_spl_", 33): C.CLAWBACK, ("tr_spl_", 34): C.CLAWBACK,
}  # fmt: skip
PREFIXES = sorted({p for p, _ in FLOW_LINES})
CODES = sorted({c for _, c in FLOW_LINES} | {0, 6, 30, 31, 32, 35, 99})
MIDNIGHT_UTC = 16  # 00:00 in Shanghai (UTC+8, no summer time since 1992) is 16:00 UTC


def expected_line(prefix: str, code: int, incoming: bool) -> Category:
    if prefix == "tr_spl_" and code in (30, 31, 32):
        return C.SPLIT_RECEIVED if incoming else C.SPLIT_PAID
    return FLOW_LINES.get((prefix, code), C.OTHER)


def every_flow_move() -> Iterator[tuple[str, int, bool]]:
    for prefix in PREFIXES:
        for code in CODES:
            yield prefix, code, True
            yield prefix, code, False


@pytest.mark.parametrize(("prefix", "code", "incoming"), list(every_flow_move()))
def test_every_flow_code_and_side_has_its_own_bill_line_and_anything_else_is_other(
    prefix: str, code: int, incoming: bool
) -> None:
    line = expected_line(prefix, code, incoming)

    assert classify(f"{prefix}01JX5QF2_cap", code, incoming) is line
    assert classify(f"{prefix}01JX5QF2", code, incoming) is line


def test_every_category_but_own_transfer_is_reached_by_some_flow() -> None:
    reached = {expected_line(*move) for move in every_flow_move()}

    assert reached == set(Category) - {C.OWN_TRANSFER}


@pytest.mark.parametrize("code", [0, 1, 5, 30, 33, 99])
@pytest.mark.parametrize("incoming", [True, False])
@pytest.mark.parametrize(
    "transfer_id",
    ["own_move_1", "tr_", "tr_pay", "tr__pay_1", "tr__", "TR_pay_1", "x_tr_pay_1", ""],
)
def test_an_id_outside_every_flows_namespace_is_a_move_between_own_accounts(
    transfer_id: str, code: int, incoming: bool
) -> None:
    assert classify(transfer_id, code, incoming) is C.OWN_TRANSFER


@pytest.mark.parametrize(
    ("transfer_id", "code", "line"),
    [
        ("tr_a_1", 1, C.OTHER),  # a one-letter namespace is a namespace
        ("tr_pay__x", 1, C.PAYIN),
        ("tr_pay_", 1, C.PAYIN),
        ("tr_payx_1", 1, C.OTHER),
        ("tr_pa_y_1", 1, C.OTHER),
        ("tr_spl__", 31, C.SPLIT_RECEIVED),
        ("tr_new_flow_1", 1, C.OTHER),
    ],
)
def test_the_namespace_is_the_first_word_after_tr(
    transfer_id: str, code: int, line: Category
) -> None:
    assert classify(transfer_id, code, True) is line


def test_a_month_is_its_shanghai_days_as_a_utc_window() -> None:
    november = month_period("2026-11")

    assert november == Period(
        "2026-11", datetime(2026, 10, 31, 16, tzinfo=UTC), datetime(2026, 11, 30, 16, tzinfo=UTC)
    )
    assert november.start.tzinfo is UTC and november.end.tzinfo is UTC
    assert november.is_month
    assert november.days == [date(2026, 11, d) for d in range(1, 31)]


@pytest.mark.parametrize(
    ("label", "first", "after", "days"),
    [
        ("2026-01", date(2026, 1, 1), date(2026, 2, 1), 31),
        ("2026-02", date(2026, 2, 1), date(2026, 3, 1), 28),
        ("2028-02", date(2028, 2, 1), date(2028, 3, 1), 29),
        ("2100-02", date(2100, 2, 1), date(2100, 3, 1), 28),
        ("2026-04", date(2026, 4, 1), date(2026, 5, 1), 30),
        ("2026-11", date(2026, 11, 1), date(2026, 12, 1), 30),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1), 31),
        ("1999-12", date(1999, 12, 1), date(2000, 1, 1), 31),
        ("9998-12", date(9998, 12, 1), date(9999, 1, 1), 31),
    ],
)
def test_a_month_runs_from_its_first_shanghai_midnight_to_the_next_months(
    label: str, first: date, after: date, days: int
) -> None:
    period = period_of(label)

    assert period.label == label and period.is_month
    assert period.start == datetime.combine(first, datetime.min.time(), UTC) - timedelta(hours=8)
    assert period.start.hour == period.end.hour == MIDNIGHT_UTC
    assert period.end.date() == after - timedelta(days=1)
    assert len(period.days) == days
    assert period.days[0] == first and period.days[-1] == after - timedelta(days=1)


def test_the_first_month_of_the_calendar_is_counted_from_shanghais_mean_solar_time() -> None:
    # Before 1901 Shanghai kept local mean time, 8:05:43 ahead of Greenwich (tzdata).
    lmt = timedelta(hours=8, minutes=5, seconds=43)
    period = month_period("0002-01")

    assert period.start == datetime(2, 1, 1, tzinfo=UTC) - lmt
    assert period.end == datetime(2, 2, 1, tzinfo=UTC) - lmt
    assert len(period.days) == 31
    assert day_period(date(1, 1, 2)).start == datetime(1, 1, 2, tzinfo=UTC) - lmt


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("2026-13", "invalid_month"),
        ("2026-00", "invalid_month"),
        ("2026-1x", "invalid_month"),
        ("2026/11", "invalid_month"),
        ("0001-12", "date_out_of_range"),
        ("0001-01", "date_out_of_range"),
        ("0000-06", "date_out_of_range"),
        ("9999-01", "date_out_of_range"),
        ("9999-12", "date_out_of_range"),
        ("2026-02-30", "invalid_period"),
        ("20261101", "invalid_period"),
        ("2026-11-1", "invalid_period"),
        ("2026-11-011", "invalid_period"),
        ("0001-01-01", "date_out_of_range"),
        ("9999-12-31", "date_out_of_range"),
        ("", "invalid_period"),
    ],
)
def test_a_label_that_is_no_month_or_day_of_the_calendar_is_refused_with_its_code(
    label: str, code: str
) -> None:
    with pytest.raises(Rejected) as refused:
        period_of(label)

    assert refused.value.code == code


@pytest.mark.parametrize(
    "label",
    [
        "\uff12\uff10\uff12\uff16-\uff11\uff11",
        "\u0662\u0660\u0662\u0666-\u0661\u0661",
        "2026-\uff11\uff11",
    ],
)
def test_a_month_written_with_another_scripts_digits_is_refused(label: str) -> None:
    # Accepted, it would be a second name for 2026-11: a second seal of the same month.
    with pytest.raises(Rejected) as refused:
        month_period(label)

    assert refused.value.code == "invalid_month"


@pytest.mark.parametrize(
    ("day", "start"),
    [
        (date(2026, 11, 30), datetime(2026, 11, 29, 16, tzinfo=UTC)),
        (date(2026, 12, 31), datetime(2026, 12, 30, 16, tzinfo=UTC)),
        (date(2027, 1, 1), datetime(2026, 12, 31, 16, tzinfo=UTC)),
        (date(2028, 2, 29), datetime(2028, 2, 28, 16, tzinfo=UTC)),
        (date(9999, 12, 30), datetime(9999, 12, 29, 16, tzinfo=UTC)),
    ],
)
def test_a_day_is_the_24_hours_from_its_shanghai_midnight(day: date, start: datetime) -> None:
    period = period_of(day.isoformat())

    assert period == Period(day.isoformat(), start, start + timedelta(hours=24))
    assert period.start.tzinfo is UTC
    assert not period.is_month
    assert period.days == [day]
    assert day_period(day) == period


def test_the_first_and_last_days_of_the_calendar_are_refused_and_their_neighbours_kept() -> None:
    assert day_period(date(1, 1, 2)).label == "0001-01-02"
    assert day_period(date(9999, 12, 30)).label == "9999-12-30"
    for edge in (date(1, 1, 1), date(9999, 12, 31)):
        with pytest.raises(Rejected) as refused:
            day_period(edge)
        assert refused.value.code == "date_out_of_range"


def test_an_instant_belongs_to_the_bill_day_of_shanghais_wall_clock() -> None:
    assert bill_day_of(datetime(2026, 12, 31, 15, 59, 59, 999_999, UTC)) == date(2026, 12, 31)
    assert bill_day_of(datetime(2026, 12, 31, 16, tzinfo=UTC)) == date(2027, 1, 1)
    assert bill_day_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == date(2027, 1, 1)
    assert bill_day_of(datetime(2027, 1, 1, 8, tzinfo=UTC)) == date(2027, 1, 1)


def test_periods_are_utc_windows_whatever_the_machines_own_timezone() -> None:
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        month, day = month_period("2026-07"), day_period(date(2026, 7, 4))
        seen = bill_day_of(datetime(2026, 7, 4, 20, tzinfo=UTC))
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()

    assert month.start.utcoffset() == timedelta(0)
    assert (month.start.date(), month.start.hour) == (date(2026, 6, 30), MIDNIGHT_UTC)
    assert month.days[0] == date(2026, 7, 1) and len(month.days) == 31
    assert (day.start.date(), day.start.hour, day.start.utcoffset()) == (
        date(2026, 7, 3), MIDNIGHT_UTC, timedelta(0),
    )  # fmt: skip
    assert seen == date(2026, 7, 5)


@given(day=st.dates(min_value=date(1992, 1, 1), max_value=date(9998, 12, 31)))
def test_every_day_and_its_month_start_at_16_00_utc_and_hold_the_instants_of_that_day(
    day: date,
) -> None:
    period, month = day_period(day), month_period(month_of(day))

    assert period.start == datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=8)
    assert period.end - period.start == timedelta(days=1)
    assert bill_day_of(period.start) == day
    assert bill_day_of(period.end - timedelta(microseconds=1)) == day
    assert month.start <= period.start < period.end <= month.end
    assert day in month.days and month.days[0].day == 1
    assert month_of(month.days[-1] + timedelta(days=1)) != month.label


@pytest.mark.parametrize(
    ("day", "label"),
    [(date(2026, 11, 30), "2026-11"), (date(2, 3, 4), "0002-03"), (date(9999, 12, 1), "9999-12")],
)
def test_a_days_month_label_is_zero_padded(day: date, label: str) -> None:
    assert month_of(day) == label


@pytest.mark.parametrize(
    ("label", "before"),
    [
        ("2026-11", "2026-10"),
        ("2026-01", "2025-12"),
        ("2026-03", "2026-02"),
        ("0003-01", "0002-12"),
    ],
)
def test_the_month_before_crosses_year_ends(label: str, before: str) -> None:
    assert previous_month(label) == before


@pytest.mark.parametrize(
    ("owner_id", "account_owner", "belongs"),
    [
        (None, "m1", True),
        (None, "m1:alice", True),
        (None, "m10", False),
        (None, "m2:m1", False),
        (None, None, False),
        ("alice", "m1:alice", True),
        ("alice", "m1", False),
        ("alice", "m1:alice2", False),
        ("alice", "m1:bob", False),
        ("alice", None, False),
    ],
)
def test_a_statement_holds_the_merchants_accounts_and_its_wallet_owners_or_one_owners(
    owner_id: str | None, account_owner: str | None, belongs: bool
) -> None:
    assert owner_matches("m1", owner_id, account_owner) is belongs
