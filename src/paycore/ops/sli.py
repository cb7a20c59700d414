"""SLI recording: good/total per SLI and minute, counted in memory, flushed in batches.

A request costs one append to a deque (no lock, no classification): the flusher, or the
request that fills the buffer, sorts the buffered requests into route families and
minutes in one pass under the lock. The database sees one upsert per SLI and minute every
`FLUSH_INTERVAL_S`, from a worker thread, never per request. Measured by bench/sli.py. Counts add
up across flushes and across server processes (each writes its own `node` rows).

SLIs: `api_availability` (a 5xx answer is bad), `latency:<family>` (slower than the
family's threshold is bad), `probe:<target>` (the prober's results) and, written by
BurnRateAlerts from the orders, `success:<kind>:<channel>`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paycore.clock import Clock
from paycore.ops import store
from paycore.ops.heartbeat import node_name  # one name per process in every ops table
from paycore.ops.slo import SloConfig
from paycore.platform.db import WRITER

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 5.0
API_AVAILABILITY = "api_availability"
PENDING_MINUTES_MAX = 10_000
"""Minutes x SLIs kept while the database refuses flushes; past it the oldest are dropped
(and logged) rather than let a long outage grow the process without bound."""


REQUESTS_BUFFERED_MAX = 4096
"""Requests kept raw between two sortings: the request that fills the buffer sorts it, so
a process without the flusher (PAYCORE_WORKERS=0) stays bounded too."""
ROUTE_FAMILY_CACHE_MAX = 4096
"""Paths whose route family is remembered; past it (paths with ids) each is looked up."""


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Totals:
    sli: str
    good: int
    total: int


class SliRecorder:
    """Thread-safe. `pending` is what the next flush writes; `totals` only ever grow (the
    counters /metrics exposes, since the process started)."""

    def __init__(self, config: SloConfig, clock: Clock, *, node: str | None = None) -> None:
        self.config = config
        self.node = node or node_name()
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, datetime], list[int]] = {}
        self._totals: dict[str, list[int]] = {}
        self._requests: deque[tuple[str, int, float, datetime]] = deque()
        self._families: dict[str, tuple[str, float] | None] = {}

    def record(self, sli: str, *, good: bool, at: datetime | None = None) -> None:
        self.count(sli, good=1 if good else 0, total=1, at=at)

    def count(self, sli: str, *, good: int, total: int, at: datetime | None = None) -> None:
        minute = minute_of(at or self._clock.now())
        with self._lock:
            self._add(sli, minute, good, total)

    def _add(self, sli: str, minute: datetime, good: int, total: int) -> None:
        """Under the lock."""
        cell = self._pending.get((sli, minute))
        if cell is None:
            cell = self._pending[(sli, minute)] = [0, 0]
        cell[0] += good
        cell[1] += total
        grand = self._totals.get(sli)
        if grand is None:
            grand = self._totals[sli] = [0, 0]
        grand[0] += good
        grand[1] += total

    def add_to_totals(self, sli: str, *, good: int, total: int) -> None:
        """Counters only (the database already holds these events' minutes)."""
        with self._lock:
            grand = self._totals.setdefault(sli, [0, 0])
            grand[0] += good
            grand[1] += total

    def record_request(self, path: str, status: int, elapsed_ms: float) -> None:
        """Buffered (deque.append is atomic); counted by `_sort_requests`."""
        self._requests.append((path, status, elapsed_ms, self._clock.now()))
        if len(self._requests) >= REQUESTS_BUFFERED_MAX:
            self._sort_requests()

    def _sort_requests(self) -> None:
        """A 5xx is bad for availability and not counted for latency (an error is one bad
        event, not two); any other answer is timed against its family's threshold."""
        with self._lock:
            while self._requests:
                path, status, elapsed_ms, at = self._requests.popleft()
                minute = minute_of(at)
                self._add(API_AVAILABILITY, minute, 1 if status < 500 else 0, 1)
                family = self._family_of(path) if status < 500 else None
                if family is not None:
                    self._add(family[0], minute, 1 if elapsed_ms <= family[1] else 0, 1)

    def _family_of(self, path: str) -> tuple[str, float] | None:
        """(latency SLI, threshold ms) of a path; remembered, as the config never changes."""
        if path in self._families:
            return self._families[path]
        slo = self.config.route_family(path)
        found = None if slo is None or slo.threshold_ms is None else (slo.name, slo.threshold_ms)
        if len(self._families) < ROUTE_FAMILY_CACHE_MAX:
            self._families[path] = found
        return found

    def totals(self) -> Iterator[Totals]:
        self._sort_requests()
        with self._lock:
            items = [(sli, g, t) for sli, (g, t) in self._totals.items()]
        for sli, good, total in sorted(items):
            yield Totals(sli, good, total)

    def flush(self, engine: Engine) -> int:
        """Write what was counted since the last flush; on failure keep it for the next.
        Returns the number of minute rows written."""
        self._sort_requests()
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return 0
        rows = [
            {"sli": sli, "node": self.node, "minute_at": at, "good": g, "total": t}
            for (sli, at), (g, t) in sorted(taken.items())
        ]
        try:
            with engine.connect().execution_options(**WRITER) as conn, conn.begin():
                store.add_sli_minutes(conn, rows)
        except Exception:
            self._give_back(taken)
            raise
        return len(rows)

    def _give_back(self, taken: dict[tuple[str, datetime], list[int]]) -> None:
        with self._lock:
            for key, (good, total) in taken.items():
                cell = self._pending.setdefault(key, [0, 0])
                cell[0] += good
                cell[1] += total
            while len(self._pending) > PENDING_MINUTES_MAX:
                oldest = min(self._pending, key=lambda k: k[1])
                log.warning("SLI minute dropped after failed flushes: %s %s", *oldest)
                del self._pending[oldest]

    def run_flusher(
        self, engine: Engine, stop: threading.Event, interval_s: float = FLUSH_INTERVAL_S
    ) -> None:
        """The worker: flush every `interval_s`, and once more when stopped."""
        while not stop.wait(interval_s):
            self._flush_logged(engine)
        self._flush_logged(engine)

    def _flush_logged(self, engine: Engine) -> None:
        try:
            self.flush(engine)
        except Exception:
            log.exception("SLI flush failed; the counts are kept for the next one")


class SliMiddleware:
    """Plain ASGI, outermost but for the server's own error handling: every HTTP request
    counts for availability and its route family's latency. An exception escaping the app
    is a 500. The recorder is `app.state.sli`; without one, requests pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        recorder = _recorder_of(scope) if scope["type"] == "http" else None
        if recorder is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            recorder.record_request(scope["path"], status, elapsed_ms)


def _recorder_of(scope: Scope) -> SliRecorder | None:
    app = scope.get("app")
    recorder = getattr(getattr(app, "state", None), "sli", None)
    return recorder if isinstance(recorder, SliRecorder) else None
