"""Pure rules of operations: what a firing condition is, what an incident records, and how
an incident is graded A to D from its measured impact.

A *signal* is a condition that holds right now (a burn-rate alert, a channel breaker open
too long, a hung worker). Signals with the same key are one incident: it opens when the
key first fires and closes when the key has stopped firing, with its duration. Grades
follow `GradingRules`, which are configuration with documented defaults; a review may set
another grade, and the record keeps both.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from paycore.errors import Rejected


class SignalSource(enum.StrEnum):
    ALERT = "alert"
    """A multi-window burn-rate alert over an SLO."""
    DETECTOR = "detector"
    """A direct check of the system's state (breakers, backlogs, heartbeats, pools)."""
    DRILL = "drill"
    """Raised by `paycore drill` itself, only to mark a drill's window on the timeline."""


class Severity(enum.StrEnum):
    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True, slots=True)
class Signal:
    """One condition firing now. `key` is the deduplication key: `burn:<slo>:<window>`,
    `breaker:<channel>`, `unresolved_orders`, `webhook_backlog`, `bills_pool`,
    `heartbeat:<node>:<worker>`, `finance_push`, `worker_crash:<node>:<worker>`."""

    key: str
    source: SignalSource
    kind: str
    """What fired, for grading and the report: burn_rate | breaker_open | unresolved_orders |
    webhook_backlog | bills_pool_saturated | heartbeat_missing | finance_push_behind |
    worker_crash_loop."""
    severity: Severity
    summary: str
    """One line a person on call reads first (no personal data)."""
    since: datetime
    """When the condition started, as far as the detector knows (UTC)."""
    products: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    details: Mapping[str, str | int] = field(default_factory=dict)


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    """The condition cleared; duration is known; the grade is still the automatic one."""
    REVIEWED = "reviewed"
    """A person reviewed it: grade confirmed or changed, cause, handling and notes written."""


class Grade(enum.StrEnum):
    """A is the most severe. The seed: 事故 A/B/C/D 级, 复盘定级 (graded after review)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


@dataclass(frozen=True, slots=True)
class Impact:
    """What an incident touched, computed from the data over its window."""

    orders: int = 0
    """Orders created in the window that failed for a system or channel reason, or were
    still unresolved when the window ended."""
    merchants: int = 0
    amount_minor: Mapping[str, int] = field(default_factory=dict)
    """Per ISO 4217 currency: the amount of those orders."""
    money_mismoved_minor: Mapping[str, int] = field(default_factory=dict)
    """Per currency: money lost or moved wrongly (a failed ledger or cross-slice check,
    a finance break left missing). Anything here makes the incident grade A by default."""
    traffic_share_ppm: int = 0
    """Affected orders over all orders in the window, in parts per million."""
    duration_s: int = 0
    products: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GradeRule:
    """An incident meets the rule when any one bound is met (a None bound never is)."""

    grade: Grade
    duration_s_min: int | None = None
    traffic_share_ppm_min: int | None = None
    merchants_min: int | None = None
    any_money_mismoved: bool = False

    def met_by(self, impact: Impact) -> bool:
        if self.any_money_mismoved and any(v != 0 for v in impact.money_mismoved_minor.values()):
            return True
        return (
            (self.duration_s_min is not None and impact.duration_s >= self.duration_s_min)
            or (
                self.traffic_share_ppm_min is not None
                and impact.traffic_share_ppm >= self.traffic_share_ppm_min
            )
            or (self.merchants_min is not None and impact.merchants >= self.merchants_min)
        )


DEFAULT_GRADE_RULES: tuple[GradeRule, ...] = (
    GradeRule(Grade.A, any_money_mismoved=True, duration_s_min=4 * 3600, merchants_min=1000),
    GradeRule(Grade.B, duration_s_min=3600, traffic_share_ppm_min=200_000, merchants_min=100),
    GradeRule(Grade.C, duration_s_min=600, traffic_share_ppm_min=20_000, merchants_min=10),
)
"""The documented defaults (ops/README.md). A: money lost or mis-moved, 4 h or more, or
1,000 merchants. B: 1 h, 20% of traffic, or 100 merchants. C: 10 min, 2% of traffic, or
10 merchants. Anything less is D."""


def grade_of(impact: Impact, rules: tuple[GradeRule, ...] = DEFAULT_GRADE_RULES) -> Grade:
    """The most severe grade whose rule the impact meets; D when none does."""
    for rule in sorted(rules, key=lambda r: r.grade.value):
        if rule.met_by(impact):
            return rule.grade
    return Grade.D


def parse_grade(text: str) -> Grade:
    try:
        return Grade(text.strip().upper())
    except ValueError:
        raise Rejected("invalid_grade", "a grade is one of A, B, C, D") from None


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One line of an incident's timeline."""

    at: datetime
    kind: str
    """opened | fired | impact | graded | closed | reopened | reviewed | note | drill"""
    text: str


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    key: str
    kind: str
    status: IncidentStatus
    summary: str
    opened_at: datetime
    closed_at: datetime | None
    impact: Impact
    auto_grade: Grade
    grade: Grade | None
    """The grade after review; None while awaiting review (the report says so)."""
    cause: str = ""
    handling: str = ""
    review_notes: str = ""
    timeline: tuple[IncidentEvent, ...] = ()

    @property
    def duration_s(self) -> int | None:
        if self.closed_at is None:
            return None
        return int((self.closed_at - self.opened_at).total_seconds())
