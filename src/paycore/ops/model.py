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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

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
    `heartbeat:<node>` (its silent workers in the details), `node_hang:<node>`,
    `finance_push`, `worker_crash:<node>:<worker>`."""

    key: str
    source: SignalSource
    kind: str
    """What fired, for grading and the report: burn_rate | breaker_open | unresolved_orders |
    webhook_backlog | bills_pool_saturated | heartbeat_missing | node_hang |
    finance_push_behind | worker_crash_loop."""
    severity: Severity
    summary: str
    """One line a person on call reads first (no personal data)."""
    since: datetime
    """When the condition started, as far as the detector knows (UTC)."""
    products: tuple[str, ...] = ()
    """Payment products (an order's `product`: qr, rent, ...) or the area (bills, finance)."""
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    """Order kinds (payin, payout, refund): a success-rate SLO is about a kind, not a product."""
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
    kinds: tuple[str, ...] = ()
    """Order kinds the incident is about (payin, payout, refund); all when empty."""
    checks_failed: int = 0
    """Failed ledger or cross-slice checks, and finance days left with missing vouchers,
    in the window. Counts as money mis-moved even when no amount could be measured: a
    check that fails says money is not where the records put it."""

    @property
    def money_mismoved(self) -> bool:
        return self.checks_failed > 0 or any(v != 0 for v in self.money_mismoved_minor.values())


@dataclass(frozen=True, slots=True)
class GradeRule:
    """An incident meets the rule when any one bound is met (a None bound never is)."""

    grade: Grade
    duration_s_min: int | None = None
    traffic_share_ppm_min: int | None = None
    merchants_min: int | None = None
    any_money_mismoved: bool = False

    def met_by(self, impact: Impact) -> bool:
        if self.any_money_mismoved and impact.money_mismoved:
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
    severity: Severity = Severity.TICKET
    source: SignalSource = SignalSource.DETECTOR
    last_fired_at: datetime | None = None
    reviewed_at: datetime | None = None
    reviewed_by: str | None = None

    @property
    def awaiting_review(self) -> bool:
        return self.grade is None

    @property
    def duration_s(self) -> int | None:
        if self.closed_at is None:
            return None
        return int((self.closed_at - self.opened_at).total_seconds())


INCIDENTS_PAGE_DEFAULT = 50
INCIDENTS_PAGE_MAX = 500
REVIEW_TEXT_MAX = 4000
"""Characters of a review's cause, handling or notes."""
REVIEWER_MAX = 64


# -- configuration: detector thresholds and grade rules ------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a detector fires and when an incident closes: configuration with these
    documented defaults (PAYCORE_OPS_INCIDENTS_FILE, key "thresholds")."""

    clear_after_s: int = 60
    """An incident closes once its key has not fired for this long, so a flapping
    detector does not open and close one incident after another."""
    breaker_open_s: int = 8
    """A channel out of traffic (breaker open or half-open) for longer than this. Above one
    healthy opening, below two: a breaker stays open `open_s` (5 s), then two probes 1 s
    apart (the prober looks every 0.25 s) close it, so a channel that comes back at its
    first half-open probe is out about 6.5 s (7.5 s with slow probes) and never pages;
    one whose first probe failed (still hanging 5 s after it was taken out, as in the
    seed's 3-10 s hangs) is out at least 2 x open_s = 10 s and pages at 8 s. 60 s let such
    a hang pass unseen."""
    unresolved_age_s: int = 600
    """Orders still waiting for a result when older than this."""
    webhook_pending_max: int = 10_000
    webhook_oldest_age_s: int = 300
    bills_refused_min: int = 20
    """Bill requests refused (busy, rate limited, timed out) between two ticks."""
    bills_pool_waits_min: int = 1
    """Bills that waited for, or gave up on, a reports connection between two ticks."""
    bills_full_ticks_min: int = 3
    """Ticks in a row with every reports connection in use."""
    heartbeat_every_s: int = 5
    """A worker writes its heartbeat at most this often (when no node watch batches the
    beats: with one, they reach the database within `node_beat_every_s`)."""
    heartbeat_margin_s: int = 30
    """Stale = no beat for the worker's own wait interval + heartbeat_every_s + this."""
    heartbeat_margin_s_by_worker: Mapping[str, int] = field(
        default_factory=lambda: {"ledger-check": 3600, "bill-exports": 600}
    )
    """Workers whose one iteration may rightly take long (a full ledger check, an export)."""
    node_beat_every_s: float = 1.0
    """The node watch (one thread per `serve` process) beats the node and writes every
    beat of the process, its workers' too, in one transaction this often."""
    node_beat_margin_s: float = 3.0
    """Peers see a node hung when its node beat is older than node_beat_every_s + this
    (4 s), counted against the freshest node beat so a database that stalls every
    writer is not taken for hung nodes. 3 s: the seed's hangs start at 3 s, and a beat's
    write and the process's GC pauses take well under a second; per-worker margins stay
    generous, since one slow iteration is not a hung node."""
    node_stall_min_s: float = 3.0
    """A node-watch sleep of node_beat_every_s that took this long or longer (monotonic
    time) means the whole process stalled (a GIL hog, SIGSTOP, a VM or GC pause): the
    node reports it itself, since a single node has no peer to notice."""
    heartbeat_forget_s: int = 3600
    """A node silent this long is gone (stopped or replaced), not hung: its rows are ignored
    and its incident closes. A clean stop removes its rows at once."""
    crash_restarts_min: int = 3
    crash_window_s: int = 600
    """A worker restarted crash_restarts_min times within crash_window_s is a crash loop."""
    restart_backoff_s: float = 1.0
    restart_backoff_max_s: float = 60.0
    finance_push_age_s: int = 900
    """Vouchers still pending the push when created longer ago than this."""

    def heartbeat_margin_for(self, worker: str) -> int:
        return self.heartbeat_margin_s_by_worker.get(worker, self.heartbeat_margin_s)


@dataclass(frozen=True, slots=True)
class OpsConfig:
    thresholds: Thresholds = field(default_factory=Thresholds)
    grade_rules: tuple[GradeRule, ...] = DEFAULT_GRADE_RULES


def _invalid(detail: str) -> Rejected:
    return Rejected("invalid_ops_config", detail)


def thresholds_from(doc: Mapping[str, Any]) -> Thresholds:
    """Thresholds from a JSON object; a name not listed or a value of the wrong type is
    refused, never ignored (a typo must not leave a default silently in force)."""
    known = {f.name: f for f in fields(Thresholds)}
    values: dict[str, Any] = {}
    for name, value in doc.items():
        if name not in known:
            raise _invalid(f"thresholds: unknown name {name!r}")
        if name == "heartbeat_margin_s_by_worker":
            if not isinstance(value, Mapping) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()
            ):
                raise _invalid(f"thresholds: {name} maps worker names to seconds")
            values[name] = dict(value)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise _invalid(f"thresholds: {name} must be a number >= 0")
        values[name] = value
    return Thresholds(**values)


def grade_rules_from(doc: Sequence[Mapping[str, Any]]) -> tuple[GradeRule, ...]:
    """Grade rules from a JSON list of objects like the defaults' fields."""
    names = {f.name for f in fields(GradeRule)}
    rules: list[GradeRule] = []
    for item in doc:
        if not isinstance(item, Mapping) or set(item) - names or "grade" not in item:
            raise _invalid(f"grade_rules: each rule has a grade and only {sorted(names)}")
        bounds = {k: v for k, v in item.items() if k not in ("grade", "any_money_mismoved")}
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                   for v in bounds.values() if v is not None):  # fmt: skip
            raise _invalid("grade_rules: bounds are integers >= 0 or null")
        rules.append(
            GradeRule(
                grade=parse_grade(str(item["grade"])),
                any_money_mismoved=bool(item.get("any_money_mismoved", False)),
                **bounds,
            )
        )
    if len({r.grade for r in rules}) != len(rules) or Grade.D in {r.grade for r in rules}:
        raise _invalid("grade_rules: at most one rule per grade A, B, C (D is what is left)")
    return tuple(rules)


def ops_config_from(doc: Mapping[str, Any]) -> OpsConfig:
    unknown = set(doc) - {"thresholds", "grade_rules"}
    if unknown:
        raise _invalid(f"unknown keys {sorted(unknown)}")
    return OpsConfig(
        thresholds=thresholds_from(doc.get("thresholds", {})),
        grade_rules=grade_rules_from(doc["grade_rules"])
        if "grade_rules" in doc
        else DEFAULT_GRADE_RULES,
    )
