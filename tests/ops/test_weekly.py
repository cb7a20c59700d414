"""The weekly report's pure rules: ISO weeks, rates rounded down, SLO verdicts, changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.errors import Rejected
from paycore.ops.slo import Slo, SloConfig, SloKind
from paycore.ops.weekly import (
    PPM,
    Tally,
    Targets,
    Verdict,
    Week,
    change_pp,
    change_pp_text,
    day_bounds,
    grade_counts,
    last_full_week,
    parse_week,
    percent_text,
    product_lines,
    tally_by_kind,
    targets_of,
    verdict,
    week_of,
)
from paycore.payments.model import RateRow

SHANGHAI = ZoneInfo("Asia/Shanghai")


def row(day: str, kind: str, ok: int, channel: int = 0, user: int = 0) -> RateRow:
    return RateRow(day, kind, "rent", "*", ok, user, 0, channel, 0, 0)


def test_a_week_runs_from_monday_to_sunday_by_its_iso_number() -> None:
    week = parse_week("2026-W49")

    assert (week.monday, week.sunday) == (date(2026, 11, 30), date(2026, 12, 6))
    assert week.days[0].isoweekday() == 1 and len(week.days) == 7
    assert week.label == "2026-W49"


def test_a_year_of_53_weeks_has_a_w53_that_ends_in_january_and_precedes_w01() -> None:
    w53 = parse_week("2026-W53")  # 2026 begins on a Thursday

    assert (w53.monday, w53.sunday) == (date(2026, 12, 28), date(2027, 1, 3))
    assert parse_week("2027-W01").previous() == w53
    assert w53.year_start == date(2026, 1, 1)


@pytest.mark.parametrize(
    "text",
    ["2025-W53", "2026-W54", "2026-W00", "2026-49", "2026W49", "2026-w49", "", "26-W49",
     "2026-W4", "2026-W49x", "1999-W10", "9999-W52"],
)  # fmt: skip
def test_a_week_that_is_not_an_iso_week_of_the_business_years_is_refused(text: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_week(text)
    assert refused.value.code == "invalid_week"


@given(st.dates(min_value=date(2001, 1, 8), max_value=date(2098, 12, 20)))
def test_every_day_is_in_its_own_week_and_the_previous_week_ends_the_day_before(day: date) -> None:
    week = week_of(day)

    assert day in week.days
    assert week.previous().sunday + timedelta(days=1) == week.monday
    assert parse_week(week.label) == week


def test_the_days_of_a_week_are_shanghai_days_in_utc() -> None:
    week = parse_week("2026-W10")

    start, end = day_bounds(week.monday, week.sunday, SHANGHAI)

    assert start == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # Monday 00:00 in Shanghai
    assert end == datetime(2026, 3, 8, 16, 0, tzinfo=UTC)


def test_the_last_full_week_is_the_one_before_the_current_shanghai_week() -> None:
    sunday_night = datetime(2026, 12, 6, 15, 59, tzinfo=UTC)  # 23:59 Sunday in Shanghai
    monday_early = datetime(2026, 12, 6, 16, 1, tzinfo=UTC)  # 00:01 Monday in Shanghai

    assert last_full_week(sunday_night, SHANGHAI) == Week(2026, 48)
    assert last_full_week(monday_early, SHANGHAI) == Week(2026, 49)


def test_a_rate_is_printed_rounded_down_so_99_985_percent_does_not_meet_99_99() -> None:
    rate = Fraction(19_997, 20_000)  # 99.985%

    assert percent_text(rate) == "99.98%"
    assert verdict(rate, 999_900) is Verdict.MISSED
    assert percent_text(Fraction(2, 3)) == "66.66%"
    assert percent_text(Fraction(1)) == "100.00%"
    assert percent_text(None) is None


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=1, max_value=10**9),
    st.sampled_from([999_900, 999_500, 990_000, 950_000]),
)
def test_a_printed_rate_never_exceeds_the_exact_one_and_agrees_with_the_verdict(
    good: int, extra: int, target_ppm: int
) -> None:
    rate = Fraction(good, good + extra)
    printed = percent_text(rate)
    assert printed is not None
    shown = Fraction(printed.rstrip("%")) / 100

    assert shown <= rate < shown + Fraction(1, 10_000)
    met = verdict(rate, target_ppm) is Verdict.MET
    assert met == (shown >= Fraction(target_ppm, PPM))


def test_a_target_finer_than_the_printed_decimals_prints_every_rate_finer() -> None:
    targets = Targets({"payin": 999_950}, 999_900)
    rate = Fraction(99_992, 100_000)

    assert targets.decimals == 3
    assert percent_text(rate, targets.decimals) == "99.992%"
    assert verdict(rate, 999_950) is Verdict.MISSED


def test_without_data_or_without_an_slo_there_is_no_verdict() -> None:
    assert verdict(None, 999_900) is Verdict.NO_DATA
    assert verdict(Fraction(1), None) is Verdict.NO_SLO


def test_changes_are_percentage_points_truncated_toward_zero_and_signed() -> None:
    assert change_pp_text(change_pp(Fraction(3, 4), Fraction(4, 5))) == "-5.00"
    assert change_pp_text(change_pp(Fraction(29, 30), Fraction(1))) == "-3.33"
    assert change_pp_text(change_pp(Fraction(1), Fraction(29, 30))) == "+3.33"
    assert change_pp_text(change_pp(Fraction(1), Fraction(1))) == "+0.00"
    assert change_pp_text(change_pp(Fraction(1), None)) is None


def test_effective_rates_leave_out_payer_and_merchant_failures_raw_ones_do_not() -> None:
    tally = Tally(succeeded=6, failed_user=1, failed_merchant=1, failed_channel=1, failed_system=1)

    assert tally.effective == Fraction(6, 8)
    assert tally.raw == Fraction(6, 10)
    assert Tally().effective is None


def test_products_sum_their_rows_and_every_product_has_a_line() -> None:
    week = parse_week("2026-W10")
    rows = [row("2026-03-02", "payin", 3, channel=1), row("2026-03-04", "payin", 5, user=2)]
    before = [row("2026-02-24", "payin", 4)]

    lines = product_lines(week_rows=rows, previous_rows=before, days=week.days, targets=Targets())

    assert [line.kind for line in lines] == ["payin", "payout", "refund"]
    payin = lines[0]
    assert (payin.week.succeeded, payin.week.failed_channel, payin.week.failed_user) == (8, 1, 2)
    assert payin.previous.succeeded == 4
    assert [d.succeeded for d in payin.daily] == [3, 0, 5, 0, 0, 0, 0]
    assert payin.verdict is Verdict.MISSED and lines[1].verdict is Verdict.NO_DATA
    assert tally_by_kind([])["payout"] == Tally()


def test_the_year_counts_reviewed_grades_and_leaves_the_others_awaiting() -> None:
    counts = grade_counts({"A": 1, "B": 2, "C": 3, "D": 1, None: 4})

    assert (counts.ab, counts.cd, counts.awaiting) == (3, 4, 4)


def test_the_targets_come_from_the_slo_configuration() -> None:
    assert targets_of(SloConfig()) == Targets(
        {"payin": 999_900, "payout": 999_500, "refund": 999_500}, 999_900
    )
    own = SloConfig(slos=(Slo("success:payin", SloKind.SUCCESS, 999_000),
                          Slo("api_availability", SloKind.AVAILABILITY, 999_500)))  # fmt: skip
    assert targets_of(own) == Targets({"payin": 999_000}, 999_500)
