"""Drills: the seed's incidents, reproduced against the sandbox and caught by paycore itself.

`paycore drill <name>` builds an in-process Runtime on the configured database with two
in-process sandbox banks (drill_bank.py; `alpha` first, `beta` as failover), the incident
machinery of ops/ (detectors, heartbeats, Ops.tick) and the finance push with its sandbox
receiver, on a ManualClock that starts at the real time and only the drill moves: a drill
of 20 minutes of system time runs in seconds and detects at the same instant every run.
Each drill injects its fault, drives traffic, ticks the incident machinery (Ops.tick) at
every step of its clock (1 s; 10 or 15 s for the long ones) until the expected incidents
open or their limits pass, removes the fault (or lets the system heal), ticks until the
incidents close, then runs the after-checks:
the ledger check, the cross-slice flow check, the finance reconciliation of the days it
touched (0 missing, each voucher booked once by the receiver) and the banks' own records
(each pay-in paid once, none lost).

| drill              | fault injected                      | expected incident    | grade | within |
|--------------------|-------------------------------------|----------------------|-------|--------|
| month-end-storm    | 24 readers ask for bills non-stop   | bills_pool_saturated | D     | 10 s   |
| finance-db-failure | "voucher pushed" writes fail 20 min | finance_push_behind  | C     | 960 s  |
| node-hang          | the node stands still, alpha hangs  | node_hang            | B     | 10 s   |
|                    | (8 s)                               | breaker_open         | D     | 12 s   |
| bad-deploy         | a worker raises at start, in a loop | worker_crash_loop    | D     | 20 s   |

Why these grades, by the default rules (ops/model.py): the storm touches no pay-in and is
short (D); the push is behind for over 10 minutes, nothing lost (C, by duration); alpha's
breaker scopes its incident to alpha, and no alpha order is created while it is out of
traffic (D); the node's own stall report covers all traffic of the hang, where the pay-ins
that reached alpha before its breaker opened (4 of 14, 29%) were still without a result
at its end (B: 20% of traffic or more); the crash loop touches no order (D). The limits: the
storm and the crash loop show at the ops tick after they start (the crash loop after
three restarts at 1 s and 2 s backoff in `serve`); the push detector fires 900 s after
the vouchers were derived, plus a tick; the node reports its stall at the first tick
after it (8 s), and alpha's breaker pages once it has been out `breaker_open_s` (8 s),
its first probe having failed. Every drill runs on the documented default thresholds.

The table is `EXPECTATIONS`; the CLI prints it before the timeline. Times are seconds of
the drill's clock from the fault's injection to the tick that first saw the incident.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from paycore.clock import ManualClock
from paycore.ops.model import Grade, Incident, IncidentStatus

log = logging.getLogger(__name__)

TICK_S = 1
"""By default the drill's clock moves this much between two ticks of the incident
machinery (a drill of long faults may take longer steps)."""
CLOSE_WITHIN_S = 900
"""After recovery, an incident must close within this (the detectors' clear delays)."""


class DrillName(enum.StrEnum):
    MONTH_END_STORM = "month-end-storm"
    FINANCE_DB_FAILURE = "finance-db-failure"
    NODE_HANG = "node-hang"
    BAD_DEPLOY = "bad-deploy"


DESCRIPTIONS: Mapping[DrillName, str] = {
    DrillName.MONTH_END_STORM: "merchants' readers storm the bills while pay-ins run: admission"
    " answers 429, pay-ins succeed, the bills-pool detector opens an incident",
    DrillName.FINANCE_DB_FAILURE: "the write marking vouchers pushed fails for 20 minutes: the"
    " push falls behind, resumes, and the day reconciles with 0 missing",
    DrillName.NODE_HANG: "the node stands still 8 s while bank alpha hangs: the node reports"
    " its own stall, the breaker takes alpha out of traffic, pay-ins fail over to beta",
    DrillName.BAD_DEPLOY: "a release whose worker raises at start: the supervisor restarts it"
    " in a loop until it is rolled back",
}


@dataclass(frozen=True, slots=True)
class Expected:
    """An incident a drill must cause: its kind, its automatic grade, how soon it opens,
    and the start of its key (the drill's own bank, node or worker: on a database that a
    running `serve` shares, an incident of the same kind may be that server's)."""

    kind: str
    grade: Grade
    detect_within_s: int
    key_prefix: str


EXPECTATIONS: Mapping[DrillName, tuple[Expected, ...]] = {
    DrillName.MONTH_END_STORM: (Expected("bills_pool_saturated", Grade.D, 10, "bills_pool"),),
    DrillName.FINANCE_DB_FAILURE: (Expected("finance_push_behind", Grade.C, 960, "finance_push"),),
    DrillName.NODE_HANG: (
        Expected("node_hang", Grade.B, 10, "node_hang:drill:"),
        Expected("breaker_open", Grade.D, 12, "breaker:alpha"),
    ),
    DrillName.BAD_DEPLOY: (Expected("worker_crash_loop", Grade.D, 20, "worker_crash:drill-v2:"),),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One after-check: ledger | flows | finance | banks | traffic."""

    check: str
    ok: bool
    detail: str


@dataclass(slots=True)
class Caught:
    """What became of one expected incident."""

    expected: Expected
    incident_id: str | None = None
    grade: Grade | None = None
    detected_at: datetime | None = None
    """The tick at which the incident was first there."""
    opened_at: datetime | None = None
    """When its condition started, as the detector tells it."""
    closed_at: datetime | None = None


@dataclass(slots=True)
class Timeline:
    drill: DrillName
    started_at: datetime
    fault_at: datetime | None = None
    recovered_at: datetime | None = None
    finished_at: datetime | None = None
    caught: list[Caught] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    events: list[tuple[datetime, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    facts: dict[str, int] = field(default_factory=dict)
    """What the drill counted (bills refused, writes failed, restarts...), for the record."""

    @property
    def ok(self) -> bool:
        return not self.failures

    def detected_after_s(self, caught: Caught) -> int | None:
        if caught.detected_at is None or self.fault_at is None:
            return None
        return int((caught.detected_at - self.fault_at).total_seconds())


class IncidentMachinery(Protocol):
    """What a drill needs of ops/: one evaluation of every detector and alert into
    incidents (Ops.tick), and the incidents opened since the drill began (an incident's
    `opened_at` is when its condition started, which may be before the fault showed)."""

    def tick(self) -> None: ...

    def new_incidents(self) -> list[Incident]: ...


class Driver:
    """The drill's hands: its clock, its timeline, and ticking until something shows."""

    def __init__(
        self,
        *,
        drill: DrillName,
        clock: ManualClock,
        machinery: IncidentMachinery,
        tick_s: int = TICK_S,
    ) -> None:
        self.clock = clock
        self.tick_s = tick_s
        self.machinery = machinery
        self.timeline = Timeline(drill, started_at=clock.now())
        self.timeline.caught = [Caught(e) for e in EXPECTATIONS[drill]]
        self.beside_tick: list[Callable[[], object]] = []
        """Work a real system would do between two ticks (a janitor sweep, a probe)."""

    def note(self, text: str) -> None:
        self.timeline.events.append((self.clock.now(), text))
        log.info("drill %s: %s", self.timeline.drill, text)

    def fault(self, text: str) -> None:
        self.timeline.fault_at = self.clock.now()
        self.note(f"fault injected: {text}")

    def recover(self, text: str) -> None:
        self.timeline.recovered_at = self.clock.now()
        self.note(f"recovery: {text}")

    def fail(self, text: str) -> None:
        self.timeline.failures.append(text)
        self.note(f"FAILED: {text}")

    def step(self) -> None:
        """Move the drill's clock, let the system work, and evaluate the detectors."""
        self.clock.advance(self.tick_s)
        for work in self.beside_tick:
            work()
        self.machinery.tick()

    def tick_until(self, done: Callable[[], bool], *, within_s: int) -> bool:
        """Step until `done()` or until `within_s` drill seconds have passed."""
        for _ in range(max(1, within_s // self.tick_s)):
            if done():
                return True
            self.step()
        return done()

    def await_incidents(self) -> None:
        """Tick until every expected incident has opened, each within its limit."""
        limit_s = max(c.expected.detect_within_s for c in self.timeline.caught)
        self.tick_until(self._match_open, within_s=limit_s)
        for caught in self.timeline.caught:
            kind = caught.expected.kind
            if caught.incident_id is None:
                self.fail(f"no {kind} incident within {caught.expected.detect_within_s} s")
                continue
            after_s = self.timeline.detected_after_s(caught) or 0
            self.note(f"detected: {kind} incident {caught.incident_id} after {after_s} s")
            if after_s > caught.expected.detect_within_s:
                self.fail(
                    f"{kind} detected after {after_s} s, "
                    f"later than {caught.expected.detect_within_s} s"
                )

    def await_closed(self, *, within_s: int = CLOSE_WITHIN_S) -> None:
        """Tick until every caught incident has closed, then record their grades."""
        self.tick_until(self._all_closed, within_s=within_s)
        by_id = {i.id: i for i in self.machinery.new_incidents()}
        for caught in self.timeline.caught:
            incident = by_id.get(caught.incident_id or "")
            if incident is None:
                continue
            caught.grade = incident.auto_grade
            caught.closed_at = incident.closed_at
            if incident.status is IncidentStatus.OPEN:
                self.fail(f"{caught.expected.kind} incident {incident.id} still open")
                continue
            self.note(f"closed: {incident.id} after {incident.duration_s} s, {incident.auto_grade}")
            if incident.auto_grade is not caught.expected.grade:
                self.fail(
                    f"{incident.id} graded {incident.auto_grade}, expected {caught.expected.grade}"
                )

    def _match_open(self) -> bool:
        opened = self.machinery.new_incidents()
        taken = {c.incident_id for c in self.timeline.caught}
        for caught in self.timeline.caught:
            if caught.incident_id is not None:
                continue
            match = next((i for i in opened if _is(i, caught.expected) and i.id not in taken), None)
            if match is not None:
                caught.incident_id = match.id
                caught.opened_at = match.opened_at
                caught.detected_at = self.clock.now()
                taken.add(match.id)
        return all(c.incident_id is not None for c in self.timeline.caught)

    def _all_closed(self) -> bool:
        ids = {c.incident_id for c in self.timeline.caught if c.incident_id is not None}
        open_ids = {i.id for i in self.machinery.new_incidents() if i.status is IncidentStatus.OPEN}
        return not (ids & open_ids)


def _is(incident: Incident, expected: Expected) -> bool:
    return incident.kind == expected.kind and incident.key.startswith(expected.key_prefix)
