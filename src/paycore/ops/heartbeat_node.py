"""The node watch: one thread per `serve` process that beats for the node as a whole and
notices when the whole process stood still.

Per-worker heartbeats cannot tell a hung node from a slow worker: their margins must
cover an iteration that rightly takes seconds (a flows tick, a finance derivation), so a
process that stalls 3-10 s (the seed's 夯机: a GIL hog, SIGSTOP, a VM pause, a
stop-the-world pause) passes under them. The node watch does no work of its own, so
anything that stops it for long stopped the process:

- every `node_beat_every_s` it writes the node's beat (worker `@node`) together with every
  worker beat held since the last write, in one transaction; peers see the node's beat go
  stale after `node_beat_margin_s` (the `NodeHangs` detector);
- it measures its own sleep on the monotonic clock: a sleep of `node_beat_every_s` that
  took `node_stall_min_s` or longer means the process was stalled that long. It keeps the
  stall (start and length) and the node reports it itself afterwards, since a single node
  has no peer to notice.

Only the sleep is measured: a slow database write is not a stalled process (peers judge
the write's lateness against the freshest beat of all nodes instead).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from paycore.clock import Clock
from paycore.ops.heartbeat import ERROR_LOG_EVERY_S, NODE_WORKER, Heartbeats
from paycore.ops.model import Severity, Signal, SignalSource

log = logging.getLogger(__name__)

STALLS_KEPT = 100
"""Stalls kept in memory for the detector to report (the oldest go first)."""

Monotonic = Callable[[], float]
Sleep = Callable[[float], bool]
"""Sleeps the given seconds; True when the watch must stop (threading.Event.wait)."""


@dataclass(frozen=True, slots=True)
class Stall:
    """The process stood still: no beat from `started_at` for `length_s` seconds."""

    node: str
    started_at: datetime
    length_s: float

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.length_s)


class NodeWatch:
    """Beats the node, writes the process's beats in one transaction, and records stalls.
    `monotonic` measures the sleeps; the clock stamps the stalls (tests inject both)."""

    def __init__(
        self, heartbeats: Heartbeats, clock: Clock, *, monotonic: Monotonic = time.monotonic
    ) -> None:
        self.heartbeats = heartbeats
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._unreported: deque[Stall] = deque(maxlen=STALLS_KEPT)
        self.beat_at: datetime | None = None
        """The node's last beat, in memory."""
        self.on_beat: list[Callable[[datetime], object]] = []
        """Cheap in-memory looks taken at every beat (a detector sampling the breakers
        between its ticks); one that raises is logged, never stops the watch."""
        self._hook_error_at: datetime | None = None

    @property
    def node(self) -> str:
        return self.heartbeats.node

    def run(self, stop: threading.Event, sleep: Sleep | None = None) -> None:
        """Beat every `node_beat_every_s` until `stop`; the runtime's thread target."""
        sleep = sleep or stop.wait
        every_s = self.heartbeats.thresholds.node_beat_every_s
        with self.batching():
            self.beat()
            while True:
                before = self._monotonic()
                if sleep(every_s):
                    return
                self.woke(slept_s=self._monotonic() - before)
                self.beat()

    @contextmanager
    def batching(self) -> Iterator[None]:
        """While the watch runs, workers' beats wait for its writes (one per interval)."""
        self.heartbeats.batched = True
        try:
            yield
        finally:
            self.heartbeats.batched = False

    def beat(self) -> None:
        """The node's beat: in memory, then written with the workers' held beats."""
        now = self.beat_at = self._clock.now()
        self.heartbeats.flush()
        for look in self.on_beat:
            try:
                look(now)
            except Exception:
                last = self._hook_error_at
                if last is None or (now - last).total_seconds() >= ERROR_LOG_EVERY_S:
                    self._hook_error_at = now
                    log.exception("a look at the node watch's beat failed")

    def woke(self, *, slept_s: float) -> Stall | None:
        """A sleep of `node_beat_every_s` took `slept_s`: a stall when it took too long."""
        if slept_s < self.heartbeats.thresholds.node_stall_min_s:
            return None
        started_at = self._clock.now() - timedelta(seconds=slept_s)
        stall = Stall(node=self.node, started_at=started_at, length_s=round(slept_s, 3))
        with self._lock:
            self._unreported.append(stall)
        log.warning(
            "the process stood still",
            extra={"node": self.node, "stall_s": stall.length_s, "since": started_at.isoformat()},
        )
        return stall

    def take_stalls(self) -> list[Stall]:
        """The stalls not yet taken, oldest first (the detector reports each once)."""
        with self._lock:
            stalls = list(self._unreported)
            self._unreported.clear()
        return stalls


class NodeHangs:
    """The detector of hung nodes (key `node_hang:<node>`, kind `node_hang`, page): a peer
    whose node beat is older than `node_beat_every_s` + `node_beat_margin_s`, counted
    against the freshest node beat (a database that holds every writer back is not taken
    for hung nodes), or a stall this node's own watch measured, reported once, at the
    first tick after it ended (its incident then lasts the stall and a tick or two, not
    the clear delay)."""

    prefix = "node_hang:"

    def __init__(self, heartbeats: Heartbeats, watch: NodeWatch | None = None) -> None:
        self._heartbeats = heartbeats
        self._watch = watch

    def __call__(self, now: datetime) -> list[Signal]:
        fired: dict[str, Signal] = {}
        for stall in self._watch.take_stalls() if self._watch else []:
            fired.setdefault(f"node_hang:{stall.node}", _stall_signal(stall))  # the earliest
        for signal in self._peers(now):
            fired.setdefault(signal.key, signal)
        return [fired[key] for key in sorted(fired)]

    def _peers(self, now: datetime) -> list[Signal]:
        t = self._heartbeats.thresholds
        nodes = [b for b in self._heartbeats.all() if b.worker == NODE_WORKER]
        if not nodes:
            return []
        freshest = min(now, max(b.beat_at for b in nodes))
        allowed = timedelta(seconds=t.node_beat_every_s + t.node_beat_margin_s)
        forget = timedelta(seconds=t.heartbeat_forget_s)
        return [
            _signal(
                b.node,
                f"node {b.node}: no node beat for {_age_s(now, b.beat_at)} s",
                b.beat_at,
                {"node": b.node, "silent_s": _age_s(now, b.beat_at)},
            )
            for b in nodes
            if b.node != self._heartbeats.node  # its own stalls it measures itself
            and freshest - b.beat_at > allowed
            and now - b.beat_at < forget
        ]


def _stall_signal(stall: Stall) -> Signal:
    summary = (
        f"node {stall.node} stood still for {stall.length_s:.1f} s"
        f" from {stall.started_at:%H:%M:%S} UTC (its own watch)"
    )
    details: dict[str, str | int] = {"node": stall.node, "stalled_ms": int(stall.length_s * 1000)}
    return _signal(stall.node, summary, stall.started_at, details)


def _signal(node: str, summary: str, since: datetime, details: dict[str, str | int]) -> Signal:
    return Signal(
        key=f"node_hang:{node}",
        source=SignalSource.DETECTOR,
        kind="node_hang",
        severity=Severity.PAGE,
        summary=summary[:256],
        since=since,
        details=details,
    )


def _age_s(now: datetime, since: datetime) -> int:
    return int((now - since).total_seconds())
