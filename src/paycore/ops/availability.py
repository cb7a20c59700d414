"""Availability over a period, measured from the prober's records (ops_probes).

Per target (`payin:<channel>`, `health`, `read`) and overall: probes that worked over
probes made, as an exact ratio and in parts per million (rounded down, so 99.99995% is
never printed as 100%). A period without probes has no availability (None), not 100%:
it was not measured. The weekly report, the API and the CLI all call `availability()`,
so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import Engine

from paycore.errors import Rejected
from paycore.ops import store
from paycore.ops.slo import to_ppm
from paycore.platform.db import one_read

PERIOD_DAYS_MAX = 400
DEFAULT_PERIOD = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class TargetAvailability:
    target: str
    good: int
    total: int

    @property
    def ratio(self) -> Fraction | None:
        return Fraction(self.good, self.total) if self.total else None

    @property
    def ppm(self) -> int | None:
        ratio = self.ratio
        return None if ratio is None else to_ppm(ratio)


@dataclass(frozen=True, slots=True)
class Availability:
    start: datetime
    end: datetime
    targets: tuple[TargetAvailability, ...]
    overall: TargetAvailability
    """Every probe of every target together (target `*`)."""

    def as_dict(self) -> dict[str, object]:
        def one(t: TargetAvailability) -> dict[str, object]:
            ratio = t.ratio
            return {
                "target": t.target,
                "good": t.good,
                "total": t.total,
                "ratio": None if ratio is None else f"{ratio.numerator}/{ratio.denominator}",
                "ppm": t.ppm,
            }

        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "overall": one(self.overall),
            "targets": [one(t) for t in self.targets],
        }


def period_of(
    date_from: str | None, date_to: str | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """[from, to) from ISO 8601 instants as the API and the CLI take them: `to` defaults
    to now, `from` to DEFAULT_PERIOD (7 days) before `to`."""
    end = parse_instant(date_to, "to") if date_to else now
    try:
        start = parse_instant(date_from, "from") if date_from else end - DEFAULT_PERIOD
    except OverflowError:
        raise Rejected("invalid_period", "from would be before year 1") from None
    check_period(start, end)
    return start, end


def parse_instant(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected("invalid_period", f"{name} is an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise Rejected("invalid_period", f"{name} carries a time zone (UTC: ...Z)")
    return value


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise Rejected("invalid_period", "from and to carry a time zone (UTC: ...Z)")
    if end <= start:
        raise Rejected("invalid_period", "to is after from")
    if (end - start).days > PERIOD_DAYS_MAX:
        raise Rejected("invalid_period", f"a period is at most {PERIOD_DAYS_MAX} days")


def availability(engine: Engine, *, start: datetime, end: datetime) -> Availability:
    """Probes in [start, end)."""
    check_period(start, end)
    with one_read(engine) as conn:
        rows = store.probe_counts(conn, start=start, end=end)
    targets = tuple(TargetAvailability(target, good, total) for target, good, total in rows)
    overall = TargetAvailability("*", sum(t.good for t in targets), sum(t.total for t in targets))
    return Availability(start, end, targets, overall)
