"""Heartbeats of every worker thread of every `serve` process, and the supervisor that
restarts a worker whose loop raised.

Every worker loop calls `stop.wait(interval_s)` once per iteration (or `stop.is_set()`
while it is busy). The runtime hands each worker a `BeatingStop` instead of its stop
event: each call writes the worker's beat (at most one write per worker every
`heartbeat_every_s`), then defers to the real event. An iteration that hangs stops the
beats, and the hung-worker detector sees its row go stale: no beat for longer than the
worker's own wait interval plus the write throttle plus a margin.

With the node watch running (heartbeat_node.py, one thread per process), beats are not
written one by one: `beat` keeps each worker's latest in memory and the watch writes them,
with the node's own beat, in one transaction every `node_beat_every_s`.

Without a supervisor a worker thread that raised just died and said nothing. `WorkerWatch`
logs the error and restarts the loop with exponential backoff (capped), and counts the
restarts within the crash-loop window in the worker's row, which the crash-loop detector
reads (a bad deploy).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from paycore.clock import Clock
from paycore.ops import store_incidents as store
from paycore.ops.model import Thresholds

log = logging.getLogger(__name__)

NODE_NAME_MAX = 64
ERROR_LOG_EVERY_S = 60.0
"""A database that refuses beats is logged at most this often per process."""
UNBOUNDED_MS = -1
BEAT_COLUMNS = ("pid", "beat_at", "interval_ms")
"""What a beat changes in an existing row (a start also sets restarts and the error)."""
NODE_WORKER = "@node"
"""The worker name of a node's own beat (the node watch's row): not a worker's loop."""


def node_name(configured: str = "") -> str:
    """PAYCORE_NODE (or the configured name) when set, else hostname:pid."""
    name = configured or os.environ.get("PAYCORE_NODE", "")
    return (name or f"{socket.gethostname()}:{os.getpid()}")[-NODE_NAME_MAX:]


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    node: str
    worker: str
    pid: int
    beat_at: datetime
    interval_s: float | None
    """The wait it announced at its last beat; None: it waits for a signal, not a time."""
    started_at: datetime
    restarts: int
    last_error: str


def is_stale(beat: WorkerBeat, now: datetime, thresholds: Thresholds) -> bool:
    """No beat for longer than the worker said it would wait, plus the write throttle and
    its margin; a node silent for `heartbeat_forget_s` is gone, not hung."""
    if beat.interval_s is None:
        return False
    silent_s = (now - beat.beat_at).total_seconds()
    allowed_s = (
        beat.interval_s
        + thresholds.heartbeat_every_s
        + thresholds.heartbeat_margin_for(beat.worker)
    )
    return allowed_s < silent_s < thresholds.heartbeat_forget_s


def in_crash_loop(beat: WorkerBeat, now: datetime, thresholds: Thresholds) -> bool:
    recent = now - beat.started_at <= timedelta(seconds=thresholds.crash_window_s)
    return recent and beat.restarts >= thresholds.crash_restarts_min


class Heartbeats:
    """The beats of this node's workers, and every node's beats for the detectors."""

    def __init__(self, engine: Engine, clock: Clock, *, node: str, thresholds: Thresholds) -> None:
        self._engine = engine
        self._clock = clock
        self.node = node
        self.thresholds = thresholds
        self._written: dict[str, datetime] = {}
        self._intervals: dict[str, float | None] = {}
        """The interval each worker's row holds, as this process last wrote it."""
        self._lock = threading.Lock()
        self._error_logged_at: datetime | None = None
        self.batched = False
        """Set while a node watch runs: beats wait in `_pending` for its `flush`."""
        self._pending: dict[str, dict[str, Any]] = {}
        self._node_started_at: datetime | None = None

    def beat(self, worker: str, interval_s: float | None) -> None:
        """Record that `worker` is alive and will wait `interval_s`; throttled (or batched
        into the node watch's next write); never raises."""
        now = self._clock.now()
        every_s = self.thresholds.heartbeat_every_s
        with self._lock:
            if self.batched:
                self._pending[worker] = self._row(worker, now, interval_s)
                return
            last = self._written.get(worker)
            recent = last is not None and (now - last).total_seconds() < every_s
            # A longer wait than the row says is written at once, or the worker looks hung.
            if recent and not _longer(interval_s, self._intervals.get(worker, 0.0)):
                return
            self._written[worker] = now
            self._intervals[worker] = interval_s
        values = self._row(worker, now, interval_s)
        self._write(values, changing=BEAT_COLUMNS)

    def started(self, worker: str, *, restarts: int, error: str = "") -> None:
        """The worker (re)starts: restarts counts those within the crash-loop window."""
        now = self._clock.now()
        with self._lock:
            self._written.pop(worker, None)  # its first wait writes the interval at once
            self._intervals.pop(worker, None)
            self._pending.pop(worker, None)  # older than this row: it must not win
        values = {**self._row(worker, now, None), "restarts": restarts, "last_error": error[:256]}
        self._write(values, changing=tuple(values.keys() - {"node", "worker"}))

    def flush(self) -> None:
        """The node's beat and every worker beat held since the last flush, in one write
        transaction (the node watch calls it every `node_beat_every_s`); never raises."""
        now = self._clock.now()
        with self._lock:
            rows = [self._pending[w] for w in sorted(self._pending)]
            self._pending.clear()
        node_row = self._row(NODE_WORKER, now, self.thresholds.node_beat_every_s)
        if self._node_started_at is None:
            self._node_started_at = now
        node_row["started_at"] = self._node_started_at
        try:
            with store.writing(self._engine) as conn:
                for row in rows:
                    store.upsert_heartbeat(conn, row, changing=BEAT_COLUMNS)
                store.upsert_heartbeat(conn, node_row, changing=BEAT_COLUMNS)
        except Exception:  # the next flush writes newer beats; the node watch goes on
            self._log_refused(NODE_WORKER)

    def forget(self) -> None:
        """A clean stop: this node's workers are gone, not hung."""
        with store.writing(self._engine) as conn:
            store.forget_node(conn, self.node)

    def all(self) -> list[WorkerBeat]:
        with self._engine.connect() as conn:
            rows = store.heartbeat_rows(conn)
        return [_beat(row) for row in rows]

    def _row(self, worker: str, now: datetime, interval_s: float | None) -> dict[str, Any]:
        return {
            "node": self.node,
            "worker": worker[:64],
            "pid": os.getpid(),
            "beat_at": now,
            "interval_ms": UNBOUNDED_MS if interval_s is None else int(interval_s * 1000),
            "started_at": now,
            "restarts": 0,
            "last_error": "",
        }

    def _write(self, values: Mapping[str, Any], *, changing: Sequence[str]) -> None:
        try:
            with store.writing(self._engine) as conn:
                store.upsert_heartbeat(conn, values, changing=changing)
        except Exception:  # a beat must never stop the worker it reports on
            self._log_refused(values["worker"])

    def _log_refused(self, worker: str) -> None:
        now = self._clock.now()
        last = self._error_logged_at
        if last is None or (now - last).total_seconds() >= ERROR_LOG_EVERY_S:
            self._error_logged_at = now
            log.exception("heartbeat not written", extra={"worker": worker})


def _longer(interval_s: float | None, than_s: float | None) -> bool:
    """None is an unbounded wait: longer than any."""
    if than_s is None:
        return False
    return interval_s is None or interval_s > than_s


def _beat(row: Mapping[str, Any]) -> WorkerBeat:
    interval_ms = row["interval_ms"]
    return WorkerBeat(
        node=row["node"],
        worker=row["worker"],
        pid=row["pid"],
        beat_at=row["beat_at"],
        interval_s=None if interval_ms < 0 else interval_ms / 1000,
        started_at=row["started_at"],
        restarts=row["restarts"],
        last_error=row["last_error"],
    )


class BeatingStop(threading.Event):
    """A worker's stop event that beats whenever the worker waits on it or asks whether
    to stop, and otherwise is the runtime's one real stop event."""

    def __init__(self, real: threading.Event, beat: Callable[[float | None], None]) -> None:
        super().__init__()
        self._real = real
        self._beat = beat
        self._interval_s: float | None = 0.0
        """Until its first wait, a worker is taken to come back at once."""

    def wait(self, timeout: float | None = None) -> bool:
        self._interval_s = timeout
        self._beat(timeout)
        return self._real.wait(timeout)

    def is_set(self) -> bool:
        self._beat(self._interval_s)
        return self._real.is_set()

    def set(self) -> None:
        self._real.set()

    def clear(self) -> None:
        self._real.clear()


class WorkerWatch:
    """Wraps every worker the runtime spawns: beats through its stop event, and restarts
    after a crash with backoff (`restart_backoff_s` doubling to `restart_backoff_max_s`)."""

    def __init__(self, heartbeats: Heartbeats, clock: Clock) -> None:
        self.heartbeats = heartbeats
        self._clock = clock
        self.thresholds = heartbeats.thresholds

    def wrap(
        self,
        name: str,
        target: Callable[..., Any],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        *,
        stop: threading.Event,
    ) -> Callable[[], None]:
        """The thread target: `target(*args, **kwargs)` with `stop` replaced by a beating
        one wherever it is passed, supervised."""
        beating = BeatingStop(stop, lambda interval_s: self.heartbeats.beat(name, interval_s))
        args = tuple(beating if a is stop else a for a in args)
        kwargs = {k: beating if v is stop else v for k, v in kwargs.items()}
        return lambda: self.supervise(name, lambda: target(*args, **kwargs), stop=beating)

    def supervise(self, name: str, run: Callable[[], Any], *, stop: threading.Event) -> None:
        """Run until stopped; a loop that raises (or returns before the stop) is logged and
        run again after the backoff."""
        window = timedelta(seconds=self.thresholds.crash_window_s)
        crashes: deque[datetime] = deque()
        delay_s = self.thresholds.restart_backoff_s
        self.heartbeats.started(name, restarts=0)
        while True:
            began = self._clock.now()
            error = _run_once(name, run)
            if stop.is_set():
                return
            if error is None:
                log.error("worker returned before the stop; restarting", extra={"worker": name})
                error = "returned before the stop"
            now = self._clock.now()
            if now - began >= window:  # it ran well for a while: a new crash, not a loop
                crashes.clear()
                delay_s = self.thresholds.restart_backoff_s
            crashes.append(now)
            while crashes and now - crashes[0] > window:
                crashes.popleft()
            self.heartbeats.started(name, restarts=len(crashes), error=error)
            if stop.wait(delay_s):
                return
            delay_s = min(delay_s * 2, self.thresholds.restart_backoff_max_s)


def _run_once(name: str, run: Callable[[], Any]) -> str | None:
    """The error that ended the worker's loop, or None when it returned."""
    try:
        run()
    except Exception as exc:
        log.exception("worker crashed; restarting after backoff", extra={"worker": name})
        return f"{type(exc).__name__}: {exc}"
    return None
