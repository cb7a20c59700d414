"""Incidents: opened by a firing signal, deduplicated by its key while open, closed once the
key has stayed quiet for the clear delay, with their duration, measured impact and
automatic grade; listed, shown with their timeline, and reviewed (graded again) by people.

Every server process runs the same tick. The database decides races: one open incident
per key (a unique partial index; the losing insert treats the key as open), and an
incident is closed by the one update that still finds it open and not fired since it was
read. Signals that only one process sees (its channel breakers) keep the incident open
as long as any process sees them, since each firing pushes `last_fired_at` on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from paycore import ids
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ops import store_incidents as store
from paycore.ops.impact import ImpactMeter, impact_from_json, impact_to_json
from paycore.ops.model import (
    INCIDENTS_PAGE_DEFAULT,
    INCIDENTS_PAGE_MAX,
    REVIEW_TEXT_MAX,
    REVIEWER_MAX,
    Grade,
    Impact,
    Incident,
    IncidentEvent,
    IncidentStatus,
    OpsConfig,
    Severity,
    Signal,
    SignalSource,
    grade_of,
    parse_grade,
)

log = logging.getLogger(__name__)

KEY_MAX = 128
"""Characters of a signal key the incidents table keeps (ops_incidents.key)."""


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one tick changed: ids of incidents this process opened and closed."""

    opened: tuple[str, ...]
    closed: tuple[str, ...]
    firing: int


@dataclass(frozen=True, slots=True)
class IncidentPage:
    incidents: tuple[Incident, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class OpenSummary:
    counts: tuple[tuple[str, str, int], ...]
    """(kind, severity, open incidents)"""
    last_opened_at: datetime | None


class Incidents:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        config: OpsConfig | None = None,
        meter: ImpactMeter | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.config = config or OpsConfig()
        self._meter = meter or ImpactMeter(engine)

    # -- the tick -----------------------------------------------------------------------

    def reconcile(
        self, signals: Iterable[Signal], now: datetime | None = None, *, held: Sequence[str] = ()
    ) -> Reconciled:
        """Open, refresh and close incidents from what fires now. `held`: key prefixes of
        detectors that could not run this tick; their incidents neither fire nor clear."""
        now = now or self._clock.now()
        firing: dict[str, Signal] = {}
        for signal in signals:  # keys as stored: a longer one is cut to the column's size
            firing.setdefault(signal.key[:KEY_MAX], signal)
        with self._engine.connect() as conn:
            open_by_key = {row["key"]: row for row in store.open_rows(conn)}
        opened = [self._open(s, now) for k, s in firing.items() if k not in open_by_key]
        quiet = [
            row
            for key, row in open_by_key.items()
            if key not in firing and not key.startswith(tuple(held))
        ]
        with store.writing(self._engine) as conn:
            for key in firing.keys() & open_by_key.keys():
                store.mark_fired(conn, open_by_key[key]["id"], at=now)
            for row in quiet:
                store.mark_cleared(conn, row["id"], at=now)
        clear_after = timedelta(seconds=self.config.thresholds.clear_after_s)
        closed = [
            row["id"]
            for row in quiet
            if now - row["last_fired_at"] >= clear_after and self._close(row, now)
        ]
        return Reconciled(
            opened=tuple(i for i in opened if i), closed=tuple(closed), firing=len(firing)
        )

    def _open(self, signal: Signal, now: datetime) -> str | None:
        """The new incident's id, or None when another process opened one for the key."""
        incident_id = ids.new_id("inc")
        opened_at = min(signal.since, now)
        try:
            with store.writing(self._engine) as conn:
                store.insert_incident(conn, _new_row(incident_id, signal, opened_at, now))
                store.add_event(conn, incident_id, at=now, kind="opened", text=_opened_text(signal))
        except IntegrityError:
            with store.writing(self._engine) as conn:
                for row in store.open_rows(conn):
                    if row["key"] == signal.key[:KEY_MAX]:
                        store.mark_fired(conn, row["id"], at=now)
            return None
        log.warning("incident opened", extra={"incident_id": incident_id, "key": signal.key,
                                              "summary": signal.summary})  # fmt: skip
        return incident_id

    def _close(self, row: Mapping[str, Any], now: datetime) -> bool:
        end = row["cleared_at"] or now
        scope = impact_from_json(row["impact"])
        impact = self._meter.measure(
            start=row["opened_at"],
            end=end,
            products=scope.products,
            channels=scope.channels,
            kinds=scope.kinds,
        )
        grade = grade_of(impact, self.config.grade_rules)
        values = {"closed_at": end, "impact": impact_to_json(impact), "auto_grade": grade.value}
        with store.writing(self._engine) as conn:
            if not store.resolve(
                conn, row["id"], last_fired_at=row["last_fired_at"], values=values
            ):
                return False
            store.add_event(conn, row["id"], at=now, kind="closed",
                            text=f"condition cleared; lasted {impact.duration_s} s")  # fmt: skip
            store.add_event(
                conn, row["id"], at=now, kind="graded", text=_graded_text(grade, impact)
            )
        log.warning("incident closed", extra={"incident_id": row["id"], "grade": grade.value,
                                              "duration_s": impact.duration_s})  # fmt: skip
        return True

    # -- reads and reviews --------------------------------------------------------------

    def open_summary(self) -> OpenSummary:
        """For /metrics: open incidents per (kind, severity), and the newest one's opening."""
        with self._engine.connect() as conn:
            counts = store.open_counts(conn)
            last = store.last_opened_at(conn)
        return OpenSummary(counts=tuple(counts), last_opened_at=last)

    def get(self, incident_id: str) -> Incident:
        with self._engine.connect() as conn:
            row = store.get_row(conn, incident_id)
            if row is None:
                raise Rejected("incident_not_found", f"no incident {incident_id!r}")
            events = store.events_of(conn, incident_id)
        return _incident(row, events)

    def list(
        self,
        *,
        opened_from: datetime | None = None,
        opened_to: datetime | None = None,
        status: IncidentStatus | None = None,
        grade: Grade | None = None,
        awaiting_review: bool = False,
        limit: int = INCIDENTS_PAGE_DEFAULT,
        after: str | None = None,
    ) -> IncidentPage:
        """Incidents opened in [opened_from, opened_to), newest first, without timelines.
        `after`: the `next_cursor` of the page before."""
        if not 1 <= limit <= INCIDENTS_PAGE_MAX:
            raise Rejected("invalid_limit", f"limit is 1 to {INCIDENTS_PAGE_MAX}")
        with self._engine.connect() as conn:
            cursor = None
            if after is not None:
                last = store.get_row(conn, after)
                if last is None:
                    raise Rejected("invalid_cursor", "after names no incident")
                cursor = (last["opened_at"], last["id"])
            rows = store.list_rows(
                conn, opened_from=opened_from, opened_to=opened_to,
                status=status.value if status else None, grade=grade.value if grade else None,
                awaiting_review=awaiting_review, after=cursor, limit=limit + 1,
            )  # fmt: skip
        page = tuple(_incident(row, ()) for row in rows[:limit])
        return IncidentPage(page, page[-1].id if len(rows) > limit else None)

    def review(
        self,
        incident_id: str,
        *,
        by: str,
        grade: Grade | str | None = None,
        cause: str | None = None,
        handling: str | None = None,
        notes: str | None = None,
    ) -> Incident:
        """Confirm the grade (None) or set another, and write cause, handling and notes
        (None keeps what an earlier review wrote). Allowed again after a review; each
        review leaves a line on the timeline. An open incident cannot be reviewed yet."""
        chosen = parse_grade(grade) if isinstance(grade, str) else grade
        _check_review_text(by=by, cause=cause, handling=handling, notes=notes)
        now = self._clock.now()
        with store.writing(self._engine) as conn:
            row = store.get_row(conn, incident_id)
            if row is None:
                raise Rejected("incident_not_found", f"no incident {incident_id!r}")
            if row["status"] == IncidentStatus.OPEN:
                raise Rejected("incident_still_open", "review an incident once it has closed")
            before = row["grade"] or row["auto_grade"]
            after = (chosen or Grade(before)).value
            values = {"status": IncidentStatus.REVIEWED.value, "grade": after,
                      "reviewed_at": now, "reviewed_by": by}  # fmt: skip
            for column, text in (("cause", cause), ("handling", handling), ("review_notes", notes)):
                if text is not None:
                    values[column] = text
            store.review(conn, incident_id, statuses=("resolved", "reviewed"), values=values)
            changed = f"grade {after}" + ("" if after == before else f" (was {before})")
            text = f"reviewed by {by}: {changed}; automatic grade {row['auto_grade']}"
            store.add_event(conn, incident_id, at=now, kind="reviewed", text=text)
        return self.get(incident_id)


def _check_review_text(**texts: str | None) -> None:
    if not (texts["by"] or "").strip() or len(texts["by"] or "") > REVIEWER_MAX:
        raise Rejected("invalid_review", f"by names the reviewer (1 to {REVIEWER_MAX} characters)")
    for name, text in texts.items():
        if text is not None and len(text) > REVIEW_TEXT_MAX:
            raise Rejected("invalid_review", f"{name} is longer than {REVIEW_TEXT_MAX} characters")


def _new_row(
    incident_id: str, signal: Signal, opened_at: datetime, now: datetime
) -> dict[str, Any]:
    scope = Impact(products=signal.products, channels=signal.channels, kinds=signal.kinds)
    return {
        "id": incident_id,
        "key": signal.key[:KEY_MAX],
        "kind": signal.kind[:32],
        "source": signal.source.value,
        "severity": signal.severity.value,
        "status": IncidentStatus.OPEN.value,
        "summary": signal.summary[:256],
        "opened_at": opened_at,
        "last_fired_at": now,
        "cleared_at": None,
        "closed_at": None,
        "impact": impact_to_json(scope),
        "auto_grade": grade_of(scope).value,
        "grade": None,
        "cause": "",
        "handling": "",
        "review_notes": "",
    }


def _opened_text(signal: Signal) -> str:
    details = ", ".join(f"{k}={v}" for k, v in sorted(signal.details.items()))
    return f"{signal.summary} [{signal.source.value}/{signal.severity.value}]" + (
        f" ({details})" if details else ""
    )


def _graded_text(grade: Grade, impact: Impact) -> str:
    amounts = ", ".join(f"{c} {a}" for c, a in impact.amount_minor.items()) or "none"
    mismoved = "yes" if impact.money_mismoved else "no"
    return (
        f"automatic grade {grade.value}: {impact.orders} orders, {impact.merchants} merchants, "
        f"amount (minor) {amounts}, {impact.traffic_share_ppm} ppm of traffic, "
        f"{impact.duration_s} s, money mis-moved {mismoved}"
    )


def _incident(row: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> Incident:
    return Incident(
        id=row["id"],
        key=row["key"],
        kind=row["kind"],
        status=IncidentStatus(row["status"]),
        summary=row["summary"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        impact=impact_from_json(row["impact"]),
        auto_grade=Grade(row["auto_grade"]),
        grade=Grade(row["grade"]) if row["grade"] else None,
        cause=row["cause"],
        handling=row["handling"],
        review_notes=row["review_notes"],
        timeline=tuple(IncidentEvent(at=e["at"], kind=e["kind"], text=e["text"]) for e in events),
        severity=Severity(row["severity"]),
        source=SignalSource(row["source"]),
        last_fired_at=row["last_fired_at"],
        reviewed_at=row["reviewed_at"],
        reviewed_by=row["reviewed_by"],
    )
