"""Detectors: direct checks of the system's state, each returning the signals that fire
now. Thresholds are `model.Thresholds` (configuration with documented defaults).

The node-hang detector is heartbeat_node.NodeHangs, beside the node watch it reads.

Each detector owns the keys starting with its `prefix`: when it cannot run, the service
holds those incidents as they are instead of taking the silence for a recovery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine

from paycore.bills import reports_pool
from paycore.bills.admission import Admission
from paycore.channels.health import BreakerState, HealthSnapshot
from paycore.finance.backlog import FinanceBacklog
from paycore.notifications.service import DeliveryStats
from paycore.ops import store_impact
from paycore.ops.heartbeat import NODE_WORKER, Heartbeats, WorkerBeat, in_crash_loop, is_stale
from paycore.ops.model import Severity, Signal, SignalSource, Thresholds


class Detector(Protocol):
    prefix: str

    def __call__(self, now: datetime) -> Sequence[Signal]: ...


def _signal(
    key: str,
    kind: str,
    severity: Severity,
    summary: str,
    since: datetime,
    *,
    products: tuple[str, ...] = (),
    channels: tuple[str, ...] = (),
    details: Mapping[str, str | int] | None = None,
) -> Signal:
    return Signal(
        key=key,
        source=SignalSource.DETECTOR,
        kind=kind,
        severity=severity,
        summary=summary,
        since=since,
        products=products,
        channels=channels,
        details=details or {},
    )


def _age_s(now: datetime, since: datetime) -> int:
    return int((now - since).total_seconds())


class BreakerOpen:
    """A channel taken out of traffic (breaker open or half-open) for too long, counted from
    when this detector first saw it leave traffic: each failed half-open probe opens the
    breaker again with a new `opened_at`, so a dead channel's own `opened_at` stays young.
    `sample` (the node watch, every second) looks between ticks too: an outage past the
    limit that ended before the next tick (a 10-12 s hang between 10 s ticks) fires once
    at that tick."""

    prefix = "breaker:"

    def __init__(self, snapshots: Callable[[], Sequence[HealthSnapshot]], t: Thresholds) -> None:
        self._snapshots = snapshots
        self._limit = timedelta(seconds=t.breaker_open_s)
        self._out: dict[str, _Outage] = {}
        self._ended: dict[str, Signal] = {}
        self._lock = threading.Lock()

    def sample(self, now: datetime) -> None:
        with self._lock:
            self._look(now)

    def __call__(self, now: datetime) -> list[Signal]:
        with self._lock:
            fired = {s.key: s for s in self._look(now)} | self._ended
            self._ended = {}
            for outage in self._out.values():
                outage.fired |= f"breaker:{outage.snapshot.channel}" in fired
        return [fired[key] for key in sorted(fired)]

    def _look(self, now: datetime) -> list[Signal]:
        out = {
            s.channel: (s, s.opened_at)
            for s in self._snapshots()
            if s.state is not BreakerState.CLOSED and s.opened_at is not None
        }
        for channel in set(self._out) - set(out):  # back in traffic: counted afresh later
            gone = self._out.pop(channel)
            if not gone.fired and gone.seen_at - gone.since > self._limit:
                self._ended[f"breaker:{channel}"] = _breaker_signal(
                    gone.snapshot, gone.since, gone.seen_at
                )
        fired: list[Signal] = []
        for channel, (s, opened_at) in out.items():
            known = self._out.get(channel)
            since = opened_at if known is None else min(known.since, opened_at)
            self._out[channel] = _Outage(s, since, now, fired=known.fired if known else False)
            if now - since > self._limit:
                fired.append(_breaker_signal(s, since, now))
        return fired


@dataclass(slots=True)
class _Outage:
    snapshot: HealthSnapshot
    since: datetime
    seen_at: datetime
    """The last time it was seen out of traffic."""
    fired: bool = False
    """Fired at a tick while it lasted: no second signal when it ends."""


def _breaker_signal(s: HealthSnapshot, since: datetime, now: datetime) -> Signal:
    return _signal(
        f"breaker:{s.channel}",
        "breaker_open",
        Severity.PAGE,
        f"channel {s.channel} out of traffic for {int((now - since).total_seconds())}"
        f" s ({s.open_reason or 'unknown'})",
        since,
        channels=(s.channel,),
        details={"reason": s.open_reason or ""},
    )


class UnresolvedOrders:
    """Orders still without a result long after they were created."""

    prefix = "unresolved_orders"

    def __init__(self, engine: Engine, t: Thresholds) -> None:
        self._engine = engine
        self._age = timedelta(seconds=t.unresolved_age_s)

    def __call__(self, now: datetime) -> list[Signal]:
        with self._engine.connect() as conn:
            waiting = store_impact.unresolved_orders(conn, created_before=now - self._age)
        if not waiting.count or waiting.oldest_at is None:
            return []
        age_s = int((now - waiting.oldest_at).total_seconds())
        summary = (
            f"{waiting.count} orders without a result for over {int(self._age.total_seconds())} s"
        )
        return [
            _signal(
                "unresolved_orders",
                "unresolved_orders",
                Severity.PAGE,
                summary,
                waiting.oldest_at,
                products=waiting.products,
                channels=waiting.channels,
                details={"orders": waiting.count, "oldest_age_s": age_s},
            )
        ]


class WebhookBacklog:
    prefix = "webhook_backlog"

    def __init__(self, stats: Callable[[], DeliveryStats], t: Thresholds) -> None:
        self._stats = stats
        self._t = t

    def __call__(self, now: datetime) -> list[Signal]:
        stats = self._stats()
        if not (
            stats.pending > self._t.webhook_pending_max
            or stats.oldest_pending_age_s > self._t.webhook_oldest_age_s
        ):
            return []
        summary = (
            f"webhook backlog: {stats.pending} pending, oldest {int(stats.oldest_pending_age_s)} s"
        )
        since = now - timedelta(seconds=stats.oldest_pending_age_s)
        return [
            _signal(
                "webhook_backlog",
                "webhook_backlog",
                Severity.TICKET,
                summary,
                since,
                details={"pending": stats.pending, "oldest_age_s": int(stats.oldest_pending_age_s)},
            )
        ]


@dataclass(frozen=True, slots=True)
class BillsReading:
    refused_total: int
    """Bill requests refused so far (busy, rate limited, past their deadline, worker lost)."""
    waits_total: int
    """Bills that waited for, or gave up on, a reports connection so far."""
    in_use: int
    size: int


def bills_reading(admission: Admission, reports_engine: Engine) -> BillsReading:
    stats = reports_pool.pool_stats(reports_engine)
    refused = sum(admission.refused_total.values())
    if stats is None:
        return BillsReading(refused_total=refused, waits_total=0, in_use=0, size=0)
    return BillsReading(
        refused_total=refused,
        waits_total=stats.waits_total + stats.timeouts_total,
        in_use=stats.in_use,
        size=stats.size,
    )


class BillsPool:
    """The bills' pool saturated since the last tick: refusals or pool waits rising, or
    every connection in use for several ticks in a row. Counters are per process."""

    prefix = "bills_pool"

    def __init__(self, reading: Callable[[], BillsReading], t: Thresholds) -> None:
        self._reading = reading
        self._t = t
        self._last: BillsReading | None = None
        self._full_ticks = 0
        self._since: datetime | None = None

    def __call__(self, now: datetime) -> list[Signal]:
        now_reading, last = self._reading(), self._last
        self._last = now_reading
        full = now_reading.size > 0 and now_reading.in_use >= now_reading.size
        self._full_ticks = self._full_ticks + 1 if full else 0
        if last is None:
            return []
        refused = now_reading.refused_total - last.refused_total
        waits = now_reading.waits_total - last.waits_total
        if not (
            refused >= self._t.bills_refused_min
            or waits >= self._t.bills_pool_waits_min
            or self._full_ticks >= self._t.bills_full_ticks_min
        ):
            self._since = None
            return []
        self._since = self._since or now
        summary = (
            f"bills pool saturated: {refused} refused, {waits} waited for a connection, "
            f"{now_reading.in_use}/{now_reading.size} in use"
        )
        return [
            _signal(
                "bills_pool",
                "bills_pool_saturated",
                Severity.TICKET,
                summary,
                self._since,
                products=("bills",),
                details={"refused": refused, "waits": waits},
            )
        ]


class HungWorkers:
    """Workers of a node that stopped beating: their loops hang (a hung node). One signal
    per node, naming its silent workers: a whole node hanging is one incident, not one per
    thread."""

    prefix = "heartbeat:"

    def __init__(self, heartbeats: Heartbeats) -> None:
        self._heartbeats = heartbeats

    def __call__(self, now: datetime) -> list[Signal]:
        t = self._heartbeats.thresholds
        stale: dict[str, list[WorkerBeat]] = {}
        for beat in self._heartbeats.all():
            if beat.worker != NODE_WORKER and is_stale(beat, now, t):
                stale.setdefault(beat.node, []).append(beat)
        return [self._signal(node, beats, now) for node, beats in sorted(stale.items())]

    @staticmethod
    def _signal(node: str, beats: list[WorkerBeat], now: datetime) -> Signal:
        beats.sort(key=lambda b: b.beat_at)
        names = ", ".join(b.worker for b in beats)
        silent_s = _age_s(now, beats[0].beat_at)
        return _signal(
            f"heartbeat:{node}",
            "heartbeat_missing",
            Severity.PAGE,
            f"node {node}: {len(beats)} workers silent, longest {silent_s} s ({names})"[:256],
            beats[0].beat_at,
            details={"node": node, "workers": names[:200], "silent_s": silent_s},
        )


class CrashLoops:
    """A worker restarted again and again within the window (a bad deploy)."""

    prefix = "worker_crash:"

    def __init__(self, heartbeats: Heartbeats) -> None:
        self._heartbeats = heartbeats

    def __call__(self, now: datetime) -> list[Signal]:
        t = self._heartbeats.thresholds
        return [
            _signal(
                f"worker_crash:{b.node}:{b.worker}",
                "worker_crash_loop",
                Severity.PAGE,
                f"worker {b.worker} on {b.node} restarted {b.restarts} times: {b.last_error}",
                b.started_at,
                details={"node": b.node, "worker": b.worker, "restarts": b.restarts},
            )
            for b in self._heartbeats.all()
            if in_crash_loop(b, now, t)
        ]


class FinancePush:
    """Finance behind (finance/backlog.py): finished days not derived (an unmapped ledger
    code stops a day), vouchers not pushed long after they were derived, vouchers the
    finance system refused, and days that do not reconcile or could not be asked about."""

    prefix = "finance_push"

    def __init__(self, backlog: Callable[[datetime], FinanceBacklog], t: Thresholds) -> None:
        self._backlog = backlog
        self._age_s = t.finance_push_age_s

    def __call__(self, now: datetime) -> list[Signal]:
        behind = self._backlog(now)
        reasons = behind.reasons(age_s=self._age_s)
        if not reasons:
            return []
        waited_s = max(behind.oldest_pending_age_s, behind.oldest_underived_age_s)
        return [
            _signal(
                "finance_push",
                "finance_push_behind",
                Severity.PAGE,
                "finance behind: " + "; ".join(reasons),
                now - timedelta(seconds=waited_s),
                products=("finance",),
                details={
                    "vouchers_pending": behind.vouchers_pending,
                    "vouchers_rejected": behind.vouchers_rejected,
                    "days_not_derived": behind.finished_days_not_derived,
                    "days_with_breaks": behind.days_with_breaks,
                },
            )
        ]
