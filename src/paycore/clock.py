"""Time comes from an injected clock so tests can move it."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from paycore.errors import Rejected
from paycore.limits import BUSINESS_DATE_MAX, BUSINESS_DATE_MIN


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; thread-safe for concurrent tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


def date_problem(value: date) -> str | None:
    """Why paycore cannot compute with `value` (a date or an instant), or None."""
    day = value.date() if isinstance(value, datetime) else value
    if BUSINESS_DATE_MIN <= day <= BUSINESS_DATE_MAX:
        return None
    return f"{value.isoformat()} is outside {BUSINESS_DATE_MIN} to {BUSINESS_DATE_MAX}"


def check_date(value: date, *, field: str) -> None:
    """Rejected('date_out_of_range') naming `field`, for a date outside the business years."""
    problem = date_problem(value)
    if problem is not None:
        raise Rejected("date_out_of_range", f"{field}: {problem}")
