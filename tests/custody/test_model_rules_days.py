"""Business days of a custody bank: when a day ends (its cut-off in the bank's zone, in UTC),
which day an instant belongs to around midnight and the cut-off, across DST changes, and
the calendar's edges. Expected instants are worked out by hand from the zone's offset."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paycore.custody.model import (
    CustodyBank,
    business_date_of,
    check_business_date,
    day_end,
    day_window,
)
from paycore.errors import Rejected

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8 all year
NEW_YORK = ZoneInfo("America/New_York")  # 2026: EDT from 8 March, EST again from 1 November
TICK = timedelta(microseconds=1)


def bank(cutoff: str = "24:00", timezone: str = "Asia/Shanghai") -> CustodyBank:
    return CustodyBank(
        name="bank_a", currency="CNY", products=("p",), timezone=timezone, cutoff=cutoff
    )


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# -- when a day ends ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cutoff", "end"),
    [
        ("24:00", utc(2026, 3, 10, 16)),  # midnight into the 11th, Shanghai = 16:00Z
        ("17:30", utc(2026, 3, 10, 9, 30)),
        ("00:01", utc(2026, 3, 9, 16, 1)),
        ("08:00", utc(2026, 3, 10, 0)),
        ("23:59", utc(2026, 3, 10, 15, 59)),
    ],
)
def test_a_day_ends_at_its_cutoff_in_the_banks_zone(cutoff: str, end: datetime) -> None:
    assert day_end(bank(cutoff), date(2026, 3, 10)) == end


@pytest.fixture
def server_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's own time zone set to UTC+9 (not the bank's, not UTC)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("server_in_tokyo")
def test_the_end_of_a_day_is_given_in_utc_whatever_the_servers_zone() -> None:
    end = day_end(bank(), date(2026, 3, 10))
    assert end.tzinfo is UTC
    assert end == utc(2026, 3, 10, 16)


def test_a_day_runs_from_the_previous_days_cutoff_to_its_own() -> None:
    assert day_window(bank("17:30"), date(2026, 3, 10)) == (
        utc(2026, 3, 9, 9, 30),
        utc(2026, 3, 10, 9, 30),
    )


def test_the_day_clocks_spring_forward_lasts_23_hours_and_ends_at_local_midnight() -> None:
    ny = bank(timezone="America/New_York")
    # 00:00 EST (UTC-5) on the 8th, to 00:00 EDT (UTC-4) on the 9th.
    assert day_window(ny, date(2026, 3, 8)) == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))


def test_the_day_clocks_fall_back_lasts_25_hours() -> None:
    ny = bank(timezone="America/New_York")
    assert day_window(ny, date(2026, 11, 1)) == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))


def test_a_cutoff_after_the_spring_forward_is_on_the_new_wall_clock() -> None:
    # 03:00 on the 8th is EDT: 07:00Z, not midnight EST plus three hours (08:00Z).
    assert day_end(bank("03:00", "America/New_York"), date(2026, 3, 8)) == utc(2026, 3, 8, 7)
    # Before the change the offset is still EST: 01:00 is 06:00Z.
    assert day_end(bank("01:00", "America/New_York"), date(2026, 3, 8)) == utc(2026, 3, 8, 6)


# -- which day an instant belongs to --------------------------------------------------------


def test_the_last_microsecond_before_midnight_belongs_to_the_day() -> None:
    at = datetime(2026, 3, 10, 23, 59, 59, 999_999, tzinfo=SHANGHAI)
    assert business_date_of(bank(), at) == date(2026, 3, 10)


def test_midnight_in_the_banks_zone_belongs_to_the_next_day_with_a_24_00_cutoff() -> None:
    at = datetime(2026, 3, 11, 0, 0, tzinfo=SHANGHAI)
    assert at == day_end(bank(), date(2026, 3, 10))
    assert business_date_of(bank(), at) == date(2026, 3, 11)


def test_a_days_first_instant_is_the_previous_days_cutoff() -> None:
    start, _end = day_window(bank("17:30"), date(2026, 3, 10))
    assert business_date_of(bank("17:30"), start) == date(2026, 3, 10)
    assert business_date_of(bank("17:30"), start - TICK) == date(2026, 3, 9)


def test_midnight_utc_is_already_the_next_morning_in_shanghai() -> None:
    # 16:30Z on the 10th is 00:30 on the 11th in Shanghai: the 11th's business day.
    assert business_date_of(bank(), utc(2026, 3, 10, 16, 30)) == date(2026, 3, 11)
    assert business_date_of(bank(timezone="UTC"), utc(2026, 3, 10, 16, 30)) == date(2026, 3, 10)


def test_after_a_cutoff_before_midnight_money_belongs_to_tomorrow() -> None:
    late = bank("23:30")
    assert business_date_of(late, datetime(2026, 3, 10, 23, 29, tzinfo=SHANGHAI)) == date(
        2026, 3, 10
    )
    assert business_date_of(late, datetime(2026, 3, 10, 23, 30, tzinfo=SHANGHAI)) == date(
        2026, 3, 11
    )


def test_a_cutoff_just_after_midnight_ends_the_day_that_same_night() -> None:
    # "00:30" ends business day D at 00:30 on D itself: 00:15 on the 11th is the 11th's
    # last quarter hour, 00:30 already the 12th's.
    early = bank("00:30")
    assert day_end(early, date(2026, 3, 11)) == datetime(2026, 3, 11, 0, 30, tzinfo=SHANGHAI)
    assert business_date_of(early, datetime(2026, 3, 11, 0, 15, tzinfo=SHANGHAI)) == date(
        2026, 3, 11
    )
    assert business_date_of(early, datetime(2026, 3, 11, 0, 30, tzinfo=SHANGHAI)) == date(
        2026, 3, 12
    )


def test_an_instant_in_any_zone_is_read_in_the_banks_zone() -> None:
    # 20:00 in New York on the 10th (EDT) is 08:00 on the 11th in Shanghai.
    at = datetime(2026, 3, 10, 20, 0, tzinfo=NEW_YORK)
    assert business_date_of(bank(), at) == date(2026, 3, 11)
    assert business_date_of(bank(timezone="America/New_York"), at) == date(2026, 3, 10)


ZONES = ["Asia/Shanghai", "UTC", "America/New_York", "Europe/London", "Asia/Kolkata",
         "Australia/Lord_Howe", "Pacific/Chatham", "America/Sao_Paulo", "Pacific/Apia"]  # fmt: skip
cutoffs = st.builds(
    lambda minutes: f"{minutes // 60:02d}:{minutes % 60:02d}",
    st.integers(min_value=1, max_value=24 * 60),
)
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), cutoff=cutoffs, at=instants)
def test_every_instant_belongs_to_the_one_day_whose_window_holds_it(
    zone: str, cutoff: str, at: datetime
) -> None:
    custody = bank(cutoff, zone)
    found = business_date_of(custody, at)
    start, end = day_window(custody, found)
    assert start <= at < end
    # The window is the day's own: its cut-off is the next day's first instant.
    assert business_date_of(custody, end) == found + timedelta(days=1)
    assert business_date_of(custody, end - TICK) == found


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    cutoff=cutoffs,
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 1, 1)),
)
def test_the_days_windows_follow_each_other_without_gap_or_overlap(
    zone: str, cutoff: str, day: date
) -> None:
    custody = bank(cutoff, zone)
    start, end = day_window(custody, day)
    following, _ = day_window(custody, day + timedelta(days=1))
    assert start < end == following
    assert timedelta(hours=20) <= end - start <= timedelta(hours=28)


# -- the calendar's edges ------------------------------------------------------------------


def test_an_instant_the_banks_clock_jumped_back_over_belongs_to_no_day_and_is_invalid_cutoff() -> (
    None
):
    # When Alaska left the Russian calendar (18 October 1867) its clock went back a whole
    # day: with a 00:01 cut-off, half an hour after the jump falls in no business day.
    adak = bank("00:01", "America/Adak")
    with pytest.raises(Rejected) as caught:
        business_date_of(adak, utc(1867, 10, 19, 0, 31, 13))
    assert caught.value.code == "invalid_cutoff"


@pytest.mark.parametrize(
    "at", [utc(1, 1, 1, 12), datetime(9999, 12, 31, 23, tzinfo=UTC)], ids=["first", "last"]
)
def test_an_instant_whose_business_day_falls_off_the_calendar_is_date_out_of_range(
    at: datetime,
) -> None:
    with pytest.raises(Rejected) as caught:
        business_date_of(bank(timezone="UTC"), at)
    assert caught.value.code == "date_out_of_range"


def test_the_calendars_third_day_still_has_its_business_day() -> None:
    # Its window needs only the day before; the day before that is still on the calendar.
    assert business_date_of(bank(timezone="UTC"), utc(1, 1, 3, 12)) == date(1, 1, 3)


def test_an_ordinary_day_passes_the_calendar_check() -> None:
    check_business_date(bank(), date(2026, 3, 10))  # no error


@pytest.mark.parametrize(
    ("cutoff", "zone", "day"),
    [
        ("24:00", "Asia/Shanghai", date.min),  # the day before has no date
        ("24:00", "UTC", date.max),  # its end, midnight after 9999-12-31, has no date
        ("00:01", "Asia/Shanghai", date(1, 1, 2)),  # the day before ends before year 1 in UTC
    ],
)
def test_a_day_whose_window_falls_off_the_calendar_is_date_out_of_range(
    cutoff: str, zone: str, day: date
) -> None:
    with pytest.raises(Rejected) as caught:
        check_business_date(bank(cutoff, zone), day)
    assert caught.value.code == "date_out_of_range"


@pytest.mark.parametrize(
    ("cutoff", "zone", "day"),
    [("24:00", "Asia/Shanghai", date(1, 1, 2)), ("23:59", "UTC", date.max)],
)
def test_the_first_and_last_days_that_fit_the_calendar_pass_the_check(
    cutoff: str, zone: str, day: date
) -> None:
    check_business_date(bank(cutoff, zone), day)  # no error
