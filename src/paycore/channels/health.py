"""Health of one channel: a sliding window of call outcomes and a circuit breaker.

The breaker is closed (traffic flows), open (no traffic for `open_s`), or half-open (still
no traffic; a probe decides). It opens when, over the last `window_s`:

- the failure rate of finished calls reaches `failure_rate_max`, or
- the slow rate reaches `slow_rate_max`, counting calls still in flight that are already
  older than `slow_call_s` as slow: a channel that starts hanging shows up before its
  calls time out, or
- at least `hung_calls_min` calls are in flight past `slow_call_s` and no call has come
  back well (ok and fast) for `slow_call_s`: the channel has stopped answering. This opens
  within about `slow_call_s` of a hang, however many good calls the window still holds.

The rate rules need `min_calls` calls in the window. Half-open, a probe (the channel's
`probe()`, driven by the registry's `HealthProber` or by whoever calls `begin_probe`) runs
every `probe_interval_s`; `probe_successes_min` consecutive successes close the breaker
with a fresh window, one failure opens it again for `open_s`.

Every method is thread-safe and O(1) amortized: outcomes go into a ring of `buckets` time
buckets, each with a fixed latency histogram; in-flight calls sit in start order, and
each one moves to the overdue set at most once.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from paycore.clock import Clock, SystemClock
from paycore.errors import Rejected

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]
"""Seconds from an arbitrary origin that never go backwards (time.monotonic)."""

LATENCY_BIN_FIRST_S = 0.001
LATENCY_BINS_PER_DOUBLING = 4
LATENCY_BIN_COUNT = 72
"""Histogram bins: up to 1 ms, then each bin 2^(1/4) (19%) wider, up to about 4 minutes;
percentiles are the upper edge of their bin, so they are at most 19% high."""


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a channel is taken out of traffic and how it comes back (see the module doc)."""

    window_s: float = 5.0
    buckets: int = 10
    min_calls: int = 10
    failure_rate_max: float = 0.5
    slow_call_s: float = 1.0
    slow_rate_max: float = 0.5
    hung_calls_min: int = 3
    open_s: float = 5.0
    probe_interval_s: float = 1.0
    probe_successes_min: int = 2

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be > 0"
            for name in ("window_s", "slow_call_s", "open_s", "probe_interval_s")
            if not getattr(self, name) > 0
        ]
        problems += [
            f"{name} must be an integer >= 1"
            for name in ("buckets", "min_calls", "hung_calls_min", "probe_successes_min")
            if not getattr(self, name) >= 1
        ]
        problems += [
            f"{name} must be > 0 and <= 1"
            for name in ("failure_rate_max", "slow_rate_max")
            if not 0 < getattr(self, name) <= 1
        ]
        if problems:
            raise Rejected("invalid_channel_config", "breaker: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class CallToken:
    """One call in flight; give it back to `finish` exactly once."""

    call_id: int
    started_at: float
    epoch: int


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    channel: str
    state: BreakerState
    calls: int
    """Calls finished in the window."""
    failures: int
    slow_calls: int
    """Finished calls that took longer than slow_call_s, whatever their outcome."""
    hung_calls: int
    """Calls in flight for longer than slow_call_s."""
    in_flight: int
    success_rate: float | None
    """1 - failures / calls; None without calls."""
    p50_s: float | None
    p99_s: float | None
    opened_at: datetime | None
    open_reason: str | None
    """failure_rate | slow_rate | hung_calls | probe_failed | forced, while not closed."""


@dataclass(slots=True)
class _Bucket:
    index: int
    calls: int = 0
    failures: int = 0
    slow: int = 0
    latency_max_s: float = 0.0
    histogram: list[int] | None = None


def latency_bin(latency_s: float) -> int:
    if latency_s <= LATENCY_BIN_FIRST_S:
        return 0
    steps = math.ceil(LATENCY_BINS_PER_DOUBLING * math.log2(latency_s / LATENCY_BIN_FIRST_S))
    return min(max(steps, 0), LATENCY_BIN_COUNT - 1)


def latency_bin_upper_s(index: int) -> float:
    return LATENCY_BIN_FIRST_S * 2 ** (index / LATENCY_BINS_PER_DOUBLING)


class ChannelHealth:
    """The sliding window and breaker of one channel. Thread-safe."""

    def __init__(
        self,
        name: str,
        *,
        policy: BreakerPolicy | None = None,
        clock: Clock | None = None,
        monotonic: Monotonic | None = None,
    ) -> None:
        """`clock` stamps `opened_at`; `monotonic` measures durations. With only a clock
        given (a ManualClock in tests), durations are measured on that clock too."""
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock or SystemClock()
        if monotonic is None:
            monotonic = time.monotonic if clock is None else _seconds_of(self._clock)
        self._monotonic = monotonic
        self._bucket_s = self.policy.window_s / self.policy.buckets
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._epoch = 0
        self._next_call_id = 0
        self._pending: OrderedDict[int, float] = OrderedDict()  # young in-flight, by start
        self._overdue: dict[int, float] = {}  # in flight for longer than slow_call_s
        self._stale: set[int] = set()  # in flight since before the breaker last closed
        self._buckets: deque[_Bucket] = deque()
        self._calls = self._failures = self._slow = 0
        self._histogram = [0] * LATENCY_BIN_COUNT
        self._last_good_at: float | None = None
        self._opened_mono = 0.0
        self._opened_at: datetime | None = None
        self._open_reason: str | None = None
        self._probe_in_flight = False
        self._last_probe_at: float | None = None
        self._probe_successes = 0

    # -- calls -----------------------------------------------------------------------------

    def start(self) -> CallToken:
        with self._lock:
            now = self._monotonic()
            self._next_call_id += 1
            self._pending[self._next_call_id] = now
            return CallToken(self._next_call_id, now, self._epoch)

    def finish(self, token: CallToken, *, ok: bool) -> None:
        """Record how a call ended: ok=False for a channel failure of any kind."""
        with self._lock:
            now = self._monotonic()
            if token.epoch != self._epoch:
                self._stale.discard(token.call_id)
                return
            started = self._pending.pop(token.call_id, None)
            if started is None:
                started = self._overdue.pop(token.call_id, None)
            if started is None:
                return  # finished twice: the first outcome stands
            latency_s = max(now - started, 0.0)
            self._record(now, ok=ok, latency_s=latency_s)
            if ok and latency_s <= self.policy.slow_call_s:
                self._last_good_at = now
            self._evaluate(now)

    @contextmanager
    def track(self) -> Iterator[CallToken]:
        """Time the block: an exception is a failure, anything else a success."""
        token = self.start()
        ok = False
        try:
            yield token
            ok = True
        finally:
            self.finish(token, ok=ok)

    # -- breaker ---------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._evaluate(self._monotonic())
            return self._state

    def allows_traffic(self) -> bool:
        return self.state is BreakerState.CLOSED

    def force_open(self, reason: str = "forced") -> None:
        """Take the channel out of traffic now; it comes back through probes as usual."""
        with self._lock:
            self._open(self._monotonic(), reason)

    def probe_due(self) -> bool:
        with self._lock:
            return self._probe_due(self._monotonic())

    def begin_probe(self) -> bool:
        """True if a probe is due: the caller must probe and then call `end_probe`."""
        with self._lock:
            now = self._monotonic()
            if not self._probe_due(now):
                return False
            self._probe_in_flight = True
            return True

    def end_probe(self, *, ok: bool) -> None:
        with self._lock:
            now = self._monotonic()
            self._probe_in_flight = False
            self._last_probe_at = now
            if self._state is not BreakerState.HALF_OPEN:
                return
            if not ok:
                self._open(now, "probe_failed")
                return
            self._probe_successes += 1
            if self._probe_successes >= self.policy.probe_successes_min:
                self._close(now)

    def snapshot(self) -> HealthSnapshot:
        with self._lock:
            now = self._monotonic()
            self._evaluate(now)
            calls = self._calls
            return HealthSnapshot(
                channel=self.name,
                state=self._state,
                calls=calls,
                failures=self._failures,
                slow_calls=self._slow,
                hung_calls=len(self._overdue),
                in_flight=len(self._pending) + len(self._overdue) + len(self._stale),
                success_rate=1 - self._failures / calls if calls else None,
                p50_s=self._percentile(0.50),
                p99_s=self._percentile(0.99),
                opened_at=self._opened_at,
                open_reason=self._open_reason,
            )

    # -- internals (the lock is held) ------------------------------------------------------

    def _record(self, now: float, *, ok: bool, latency_s: float) -> None:
        bucket = self._bucket_at(now)
        slow = latency_s > self.policy.slow_call_s
        bucket.calls += 1
        bucket.failures += not ok
        bucket.slow += slow
        bucket.latency_max_s = max(bucket.latency_max_s, latency_s)
        if bucket.histogram is None:
            bucket.histogram = [0] * LATENCY_BIN_COUNT
        index = latency_bin(latency_s)
        bucket.histogram[index] += 1
        self._histogram[index] += 1
        self._calls += 1
        self._failures += not ok
        self._slow += slow

    def _bucket_at(self, now: float) -> _Bucket:
        index = math.floor(now / self._bucket_s)
        self._expire(index)
        if self._buckets and self._buckets[-1].index >= index:
            return self._buckets[-1]
        bucket = _Bucket(index)
        self._buckets.append(bucket)
        return bucket

    def _expire(self, index: int) -> None:
        while self._buckets and self._buckets[0].index <= index - self.policy.buckets:
            old = self._buckets.popleft()
            self._calls -= old.calls
            self._failures -= old.failures
            self._slow -= old.slow
            if old.histogram is not None:
                for i, count in enumerate(old.histogram):
                    self._histogram[i] -= count

    def _promote_overdue(self, now: float) -> None:
        deadline = now - self.policy.slow_call_s
        while self._pending:
            call_id, started = next(iter(self._pending.items()))
            if started >= deadline:
                break
            self._pending.popitem(last=False)
            self._overdue[call_id] = started

    def _evaluate(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now - self._opened_mono >= self.policy.open_s:
            self._state = BreakerState.HALF_OPEN
            self._probe_successes = 0
            self._last_probe_at = None
            log.info("channel half-open, probing", extra={"channel": self.name})
        if self._state is not BreakerState.CLOSED:
            return
        self._expire(math.floor(now / self._bucket_s))
        self._promote_overdue(now)
        reason = self._open_reason_now(now)
        if reason is not None:
            self._open(now, reason)

    def _open_reason_now(self, now: float) -> str | None:
        policy = self.policy
        hung = len(self._overdue)
        quiet = self._last_good_at is None or now - self._last_good_at > policy.slow_call_s
        if hung >= policy.hung_calls_min and quiet:
            return "hung_calls"
        if self._calls >= policy.min_calls and (
            self._failures / self._calls >= policy.failure_rate_max
        ):
            return "failure_rate"
        seen = self._calls + hung
        if seen >= policy.min_calls and (self._slow + hung) / seen >= policy.slow_rate_max:
            return "slow_rate"
        return None

    def _open(self, now: float, reason: str) -> None:
        self._state = BreakerState.OPEN
        self._opened_mono = now
        self._opened_at = self._clock.now()
        self._open_reason = reason
        self._probe_successes = 0
        log.warning(
            "channel taken out of traffic",
            extra={
                "channel": self.name,
                "reason": reason,
                "calls": self._calls,
                "failures": self._failures,
                "slow_calls": self._slow,
                "hung_calls": len(self._overdue),
            },
        )

    def _close(self, now: float) -> None:
        """Back in traffic with a clean window; calls still in flight no longer count."""
        self._state = BreakerState.CLOSED
        self._epoch += 1
        self._stale.update(self._pending)
        self._stale.update(self._overdue)
        self._pending.clear()
        self._overdue.clear()
        self._buckets.clear()
        self._calls = self._failures = self._slow = 0
        self._histogram = [0] * LATENCY_BIN_COUNT
        self._last_good_at = now
        self._opened_at = None
        self._open_reason = None
        log.info("channel restored to traffic", extra={"channel": self.name})

    def _probe_due(self, now: float) -> bool:
        self._evaluate(now)
        if self._state is not BreakerState.HALF_OPEN or self._probe_in_flight:
            return False
        last = self._last_probe_at
        return last is None or now - last >= self.policy.probe_interval_s

    def _percentile(self, q: float) -> float | None:
        if self._calls == 0:
            return None
        rank = max(math.ceil(q * self._calls), 1)
        seen = 0
        for index, count in enumerate(self._histogram):
            seen += count
            if seen >= rank:
                latency_max_s = max(b.latency_max_s for b in self._buckets)
                if index == LATENCY_BIN_COUNT - 1:
                    return latency_max_s
                return min(latency_bin_upper_s(index), latency_max_s)
        return None  # unreachable: the histogram holds every call of the window


def _seconds_of(clock: Clock) -> Monotonic:
    return lambda: clock.now().timestamp()
