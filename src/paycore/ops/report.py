"""The weekly report's numbers, gathered from their owners: success rates from payments
(the same call GET /v1/stats/success-rates and `paycore payments rates` make), availability
from the probes (ops/availability.py, as GET /v1/ops/availability), incidents as the
Incidents service lists them (GET /v1/ops/incidents) and counted by grade in
store_report.py. Nothing is recomputed another way; `weekly.py` only adds counts up and
compares them exactly.

A week is read in one go: its days, the week before (for the changes), and the year to
date for availability and the incident counts. The report of a past week is the same
whenever it is asked for; a week not over yet says so (`complete`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from paycore.clock import Clock
from paycore.ops import store_report
from paycore.ops.alerts import BurnRateAlerts
from paycore.ops.availability import availability
from paycore.ops.incidents import Incidents
from paycore.ops.model import INCIDENTS_PAGE_MAX, Incident
from paycore.ops.report_page import check_format, check_lang, render, report_view
from paycore.ops.slo import SloConfig
from paycore.ops.weekly import (
    INCIDENTS_LISTED_MAX,
    Ratio,
    Week,
    WeeklyReport,
    channel_lines,
    day_bounds,
    grade_counts,
    last_full_week,
    parse_week,
    product_lines,
    targets_of,
)
from paycore.payments.model import RateRow
from paycore.payments.reads import PaymentReads

if TYPE_CHECKING:
    from paycore.runtime import Runtime


def reports_of(runtime: Runtime) -> WeeklyReports:
    """The runtime's report service (`runtime.weekly_reports`); until the Runtime carries
    one, built from its parts: its Incidents service and its SLO configuration (that of
    `runtime.slo_alerts`) when it has them, so the report judges by the same targets."""
    wired = getattr(runtime, "weekly_reports", None)
    if isinstance(wired, WeeklyReports):
        return wired
    incidents = getattr(runtime, "incidents", None)
    alerts = getattr(runtime, "slo_alerts", None)
    return WeeklyReports(
        engine=runtime.engine,
        payments=runtime.payments,
        incidents=incidents
        if isinstance(incidents, Incidents)
        else Incidents(runtime.engine, runtime.clock),
        clock=runtime.clock,
        slos=alerts.config if isinstance(alerts, BurnRateAlerts) else None,
    )


class WeeklyReports:
    def __init__(
        self,
        *,
        engine: Engine,
        payments: PaymentReads,
        incidents: Incidents,
        clock: Clock,
        slos: SloConfig | None = None,
        zone: ZoneInfo | None = None,
    ) -> None:
        self.engine = engine
        self.payments = payments
        self.incidents = incidents
        self.clock = clock
        self.targets = targets_of(slos or SloConfig())
        self.zone = zone or payments.ctx.business_tz

    def weekly(self, week: str | Week) -> WeeklyReport:
        """The report of an ISO week (`2026-W49`); Rejected('invalid_week') otherwise."""
        week = parse_week(week) if isinstance(week, str) else week
        previous = week.previous()
        start, end = self._bounds(week)
        order_rows = self._rates(week, per_order=True)
        attempt_rows = self._rates(week, per_order=False)
        by_grade, year = self._grades(week)
        return WeeklyReport(
            week=week,
            complete=self.clock.now() >= end,
            products=product_lines(
                week_rows=order_rows,
                previous_rows=self._rates(previous, per_order=True),
                days=week.days,
                targets=self.targets,
            ),
            channels=channel_lines(
                week_rows=attempt_rows,
                previous_rows=self._rates(previous, per_order=False),
                targets=self.targets,
            ),
            availability=self._availability(start, end),
            availability_previous=self._availability(*self._bounds(previous)),
            availability_year=self._availability(
                *day_bounds(week.year_start, week.sunday, self.zone)
            ),
            availability_daily=tuple(
                self._availability(*day_bounds(d, d, self.zone)) for d in week.days
            ),
            availability_target_ppm=self.targets.availability_ppm,
            incidents=self._listed(start, end),
            incidents_total=sum(by_grade.values()),
            incidents_previous=self._count(previous),
            year=grade_counts(year),
            decimals=self.targets.decimals,
        )

    def page(self, week: str | Week | None, *, form: str = "md", lang: str = "zh") -> str:
        """The report rendered (md | html | json); the week defaults to the last full one.
        The language and format are checked before anything is read."""
        check_lang(lang)
        check_format(form)
        chosen = week if week is not None else last_full_week(self.clock.now(), self.zone)
        return render(self.weekly(chosen), form=form, lang=lang, zone=self.zone)

    def view(self, week: str | Week, *, lang: str = "zh") -> dict[str, Any]:
        """The report as data: exact counts beside every rate's text."""
        check_lang(lang)
        return report_view(self.weekly(week), lang=lang, zone=self.zone)

    def _bounds(self, week: Week) -> tuple[datetime, datetime]:
        return day_bounds(week.monday, week.sunday, self.zone)

    def _rates(self, week: Week, *, per_order: bool) -> list[RateRow]:
        """The call GET /v1/stats/success-rates makes (per=order | per=attempt)."""
        return self.payments.success_rates(
            date_from=week.monday, date_to=week.sunday, per_order=per_order
        )

    def _availability(self, start: datetime, end: datetime) -> Ratio:
        """Every probe of every target, as GET /v1/ops/availability's `overall`."""
        overall = availability(self.engine, start=start, end=end).overall
        return Ratio(overall.good, overall.total)

    def _listed(self, start: datetime, end: datetime) -> tuple[Incident, ...]:
        """The week's incidents as the Incidents service lists them, oldest first."""
        found: list[Incident] = []
        after = None
        while len(found) < INCIDENTS_LISTED_MAX:
            page = self.incidents.list(
                opened_from=start, opened_to=end, limit=INCIDENTS_PAGE_MAX, after=after
            )
            found.extend(page.incidents)
            after = page.next_cursor
            if after is None:
                break
        return tuple(reversed(found[:INCIDENTS_LISTED_MAX]))

    def _grades(self, week: Week) -> tuple[dict[str | None, int], dict[str | None, int]]:
        """Incidents by reviewed grade: of the week, and of the year to the week's end."""
        start, end = self._bounds(week)
        year_start, _ = day_bounds(week.year_start, week.year_start, self.zone)
        with self.engine.connect() as conn:
            week_grades = store_report.incidents_by_grade(conn, start=start, end=end)
            year_grades = store_report.incidents_by_grade(conn, start=year_start, end=end)
        return week_grades, year_grades

    def _count(self, week: Week) -> int:
        start, end = self._bounds(week)
        with self.engine.connect() as conn:
            return sum(store_report.incidents_by_grade(conn, start=start, end=end).values())
