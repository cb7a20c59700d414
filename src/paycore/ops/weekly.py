"""The weekly report's rules, pure: ISO weeks, exact rates, SLO verdicts and week-on-week
changes. `report.py` gathers the numbers; `report_page.py` puts them in words.

Rates are `Fraction`s of integer counts and are compared with an SLO exactly. A rate is
printed with a fixed number of decimals, *rounded down*: 99.985% prints as 99.98%, so a
printed rate never reaches a target the exact rate missed (the targets have at most as
many decimals as we print). Changes from the previous week are in percentage points,
truncated toward zero, so a change is never printed larger than it was.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from paycore.clock import date_problem
from paycore.errors import Rejected
from paycore.ops.model import Incident
from paycore.ops.slo import SloConfig
from paycore.payments.model import RateRow

KINDS = ("payin", "payout", "refund")
"""The products of the report, in its order: 入金, 出金, 退款."""

PPM = 1_000_000
PERCENT_DECIMALS = 2
"""99.99%: the seed's precision. An SLO target must not have more decimals than this."""
INCIDENTS_LISTED_MAX = 200
"""Incidents a week's report lists; more are counted, not listed (a storm of them is one
line in the report: "and N more")."""

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True, slots=True, order=True)
class Week:
    """An ISO 8601 week: Monday to Sunday, in the business timezone."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(self.monday + timedelta(days=n) for n in range(7))

    @property
    def year_start(self) -> date:
        """1 January of the week's ISO year: where "year to date" starts (a W01 may begin
        in December, a W53 end in January; the week-year names the report's year)."""
        return date(self.year, 1, 1)

    def previous(self) -> Week:
        return week_of(self.monday - timedelta(days=7))


def week_of(day: date) -> Week:
    year, number, _weekday = day.isocalendar()
    return Week(year, number)


def last_full_week(now: datetime, zone: ZoneInfo) -> Week:
    """The latest week that is over at `now` (in the business timezone)."""
    return week_of(now.astimezone(zone).date() - timedelta(days=7))


def parse_week(text: str) -> Week:
    """`2026-W49` -> Week(2026, 49); Rejected('invalid_week') for anything else, for a W53
    in a year of 52 weeks, and for a week outside the business years."""
    found = _WEEK.fullmatch(text.strip())
    if found is None:
        raise Rejected("invalid_week", f"a week is YYYY-Www (2026-W49), not {text!r}")
    week = Week(int(found[1]), int(found[2]))
    try:
        monday = week.monday
    except ValueError:
        raise Rejected(
            "invalid_week", f"{week.label}: {week.year} has no week {week.number}"
        ) from None
    problem = date_problem(monday) or date_problem(week.sunday)
    if problem is not None:
        raise Rejected("invalid_week", f"{week.label}: {problem}")
    return week


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the business days `first` to `last`, both included."""
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


@dataclass(frozen=True, slots=True)
class Tally:
    """Orders (or attempts) of one product over a period, as payments counts them."""

    succeeded: int = 0
    failed_user: int = 0
    failed_merchant: int = 0
    failed_channel: int = 0
    failed_system: int = 0
    unresolved: int = 0
    unavailable: int = 0

    @classmethod
    def of(cls, row: RateRow) -> Tally:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def decided(self) -> int:
        return (
            self.succeeded
            + self.failed_user
            + self.failed_merchant
            + self.failed_channel
            + self.failed_system
        )

    @property
    def counted(self) -> int:
        """The effective rate's denominator: payer and merchant failures left out."""
        return self.succeeded + self.failed_channel + self.failed_system

    @property
    def effective(self) -> Fraction | None:
        return Fraction(self.succeeded, self.counted) if self.counted else None

    @property
    def raw(self) -> Fraction | None:
        return Fraction(self.succeeded, self.decided) if self.decided else None


def tally_by_kind(rows: Iterable[RateRow]) -> dict[str, Tally]:
    """Every product of the report (an empty Tally for one without orders)."""
    totals = dict.fromkeys(KINDS, Tally())
    for row in rows:
        totals[row.kind] = totals.get(row.kind, Tally()) + Tally.of(row)
    return totals


def tally_by_day(rows: Iterable[RateRow], days: Sequence[date]) -> dict[str, tuple[Tally, ...]]:
    """Per product, one Tally per day of `days`."""
    cells = {(kind, day.isoformat()): Tally() for kind in KINDS for day in days}
    for row in rows:
        key = (row.kind, row.day)
        cells[key] = cells.get(key, Tally()) + Tally.of(row)
    kinds = dict.fromkeys([*KINDS, *(kind for kind, _day in cells)])
    return {kind: tuple(cells.get((kind, d.isoformat()), Tally()) for d in days) for kind in kinds}


def tally_by_channel(rows: Iterable[RateRow]) -> dict[tuple[str, str], Tally]:
    """Per (product, channel), in the report's order of products, then by channel."""
    cells: dict[tuple[str, str], Tally] = {}
    for row in rows:
        key = (row.kind, row.channel)
        cells[key] = cells.get(key, Tally()) + Tally.of(row)
    order = {kind: n for n, kind in enumerate(KINDS)}
    return dict(sorted(cells.items(), key=lambda item: (order.get(item[0][0], 9), item[0])))


@dataclass(frozen=True, slots=True)
class Ratio:
    """Good out of total (probes that answered, of all probes made)."""

    good: int = 0
    total: int = 0

    @property
    def value(self) -> Fraction | None:
        return Fraction(self.good, self.total) if self.total else None


class Verdict(enum.StrEnum):
    MET = "met"
    MISSED = "missed"
    NO_DATA = "no_data"
    NO_SLO = "no_slo"


def verdict(rate: Fraction | None, target_ppm: int | None) -> Verdict:
    if target_ppm is None:
        return Verdict.NO_SLO
    if rate is None:
        return Verdict.NO_DATA
    return Verdict.MET if rate >= Fraction(target_ppm, PPM) else Verdict.MISSED


def percent_text(rate: Fraction | None, decimals: int = PERCENT_DECIMALS) -> str | None:
    """`Fraction(19997, 20000)` -> '99.98%' (99.985% rounded down); None without data."""
    if rate is None:
        return None
    scale = 10**decimals
    hundredths = rate.numerator * 100 * scale // rate.denominator
    return _fixed(hundredths, decimals) + "%"


def change_pp(now: Fraction | None, before: Fraction | None) -> Fraction | None:
    """The change in percentage points; None when either week has no data."""
    if now is None or before is None:
        return None
    return (now - before) * 100


def change_pp_text(change: Fraction | None, decimals: int = PERCENT_DECIMALS) -> str | None:
    """`Fraction(-1, 20)` -> '-0.05', truncated toward zero, always signed ('+0.00')."""
    if change is None:
        return None
    scale = 10**decimals
    units = abs(change.numerator) * scale // change.denominator
    return ("-" if change < 0 and units else "+") + _fixed(units, decimals)


def count_change_text(now: int, before: int) -> str:
    return f"{now - before:+,d}"


def _fixed(units: int, decimals: int) -> str:
    whole, part = divmod(units, 10**decimals)
    return f"{whole}.{part:0{decimals}d}" if decimals else str(whole)


@dataclass(frozen=True, slots=True)
class Targets:
    """The SLOs the report judges against, in parts per million (999_900 = 99.99%)."""

    rate_ppm: Mapping[str, int] = field(
        default_factory=lambda: {"payin": 999_900, "payout": 999_500, "refund": 999_500}
    )
    """Effective success rate per product (pay-in 99.99%, payout 99.95%: the seed's)."""
    availability_ppm: int = 999_900

    @property
    def decimals(self) -> int:
        """The report's decimals: PERCENT_DECIMALS, more if a target needs them (99.995%),
        so that rounding down can never print a missed target as met."""
        needed = PERCENT_DECIMALS
        for ppm in (*self.rate_ppm.values(), self.availability_ppm):
            zeros = 0
            while zeros < 4 and ppm % 10 ** (zeros + 1) == 0:
                zeros += 1
            needed = max(needed, 4 - zeros)
        return needed


AVAILABILITY_SLOS = ("probe", "api_availability")
"""The SLO availability is judged by, the first configured: availability is measured by
the prober (ops/availability.py), so the probes' SLO; else the API's."""


def targets_of(config: SloConfig) -> Targets:
    """The report's targets from the SLO configuration (ops/slo.py): `success:<product>`
    for each product, the probes' SLO for availability."""
    rates = {kind: slo.target_ppm for kind in KINDS if (slo := config.get(f"success:{kind}"))}
    found = [slo for name in AVAILABILITY_SLOS if (slo := config.get(name)) is not None]
    default = Targets()
    return Targets(rates, found[0].target_ppm if found else default.availability_ppm)


@dataclass(frozen=True, slots=True)
class GradeCounts:
    """Incidents of the year to date: A/B and C/D counted once reviewed, as the seed does
    (本周事故待复盘定级后计入); the others wait."""

    ab: int = 0
    cd: int = 0
    awaiting: int = 0


def grade_counts(by_grade: Mapping[str | None, int]) -> GradeCounts:
    """{grade or None: incidents} -> the seed's counts (None: awaiting review)."""
    ab = sum(n for grade, n in by_grade.items() if grade in ("A", "B"))
    cd = sum(n for grade, n in by_grade.items() if grade in ("C", "D"))
    return GradeCounts(ab, cd, sum(by_grade.values()) - ab - cd)


@dataclass(frozen=True, slots=True)
class ProductLine:
    kind: str
    week: Tally
    """Per order, by its last attempt: the SLO view."""
    previous: Tally
    daily: tuple[Tally, ...]
    target_ppm: int | None

    @property
    def verdict(self) -> Verdict:
        return verdict(self.week.effective, self.target_ppm)


@dataclass(frozen=True, slots=True)
class ChannelLine:
    kind: str
    channel: str
    week: Tally
    """Per attempt: how each channel did, failovers included."""
    previous: Tally
    target_ppm: int | None

    @property
    def verdict(self) -> Verdict:
        return verdict(self.week.effective, self.target_ppm)


@dataclass(frozen=True, slots=True)
class WeeklyReport:
    week: Week
    complete: bool
    """False while the week is not over: its numbers are so far."""
    products: tuple[ProductLine, ...]
    channels: tuple[ChannelLine, ...]
    availability: Ratio
    availability_previous: Ratio
    availability_year: Ratio
    availability_daily: tuple[Ratio, ...]
    availability_target_ppm: int
    incidents: tuple[Incident, ...]
    """Opened this week, oldest first, at most INCIDENTS_LISTED_MAX."""
    incidents_total: int
    incidents_previous: int
    year: GradeCounts
    decimals: int = PERCENT_DECIMALS

    @property
    def availability_verdict(self) -> Verdict:
        return verdict(self.availability.value, self.availability_target_ppm)

    @property
    def availability_year_verdict(self) -> Verdict:
        return verdict(self.availability_year.value, self.availability_target_ppm)


def product_lines(
    *,
    week_rows: Sequence[RateRow],
    previous_rows: Sequence[RateRow],
    days: Sequence[date],
    targets: Targets,
) -> tuple[ProductLine, ...]:
    """Per-order rows of the week and of the week before -> one line per product."""
    now, before = tally_by_kind(week_rows), tally_by_kind(previous_rows)
    daily = tally_by_day(week_rows, days)
    return tuple(
        ProductLine(
            kind, now[kind], before.get(kind, Tally()), daily[kind], targets.rate_ppm.get(kind)
        )
        for kind in now
    )


def channel_lines(
    *, week_rows: Sequence[RateRow], previous_rows: Sequence[RateRow], targets: Targets
) -> tuple[ChannelLine, ...]:
    """Per-attempt rows -> one line per product and channel that had attempts this week."""
    before = tally_by_channel(previous_rows)
    return tuple(
        ChannelLine(
            kind, channel, tally, before.get((kind, channel), Tally()), targets.rate_ppm.get(kind)
        )
        for (kind, channel), tally in tally_by_channel(week_rows).items()
    )
