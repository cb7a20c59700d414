"""Bill workers: the heavy bill work (statements, the bill page as HTML, PDF or JSON) runs in
a few processes of its own, at a lower CPU priority, never in the server's.

A bill is seconds of Python. In the server's process it held the GIL and the CPU that
pay-ins need: in a storm of 200 bill requests the pay-ins' p99 grew 4.5-8 times however
admission spaced the bills. In a worker process it takes neither; niced, it also yields
the CPU to the server when both want it.

- PAYCORE_BILLS_PROCESSES (2 for `serve`): worker processes per server process. 0 runs
  bills in the server's thread pool (tests, a Runtime built in code, in-memory SQLite).
- Each worker reads through its own bounded read-only reports engine (reports_pool.py) on
  the reports URL, with a clock set to the server's `now` for each call: a worker never
  reads the time, so a test's ManualClock holds there too; it never writes.
- Admission (admission.py) lets no more bills in than the processes can run, so the
  executor's queue stays as short as admission's slots.
- A worker that dies (killed, out of memory) fails its bills with 503
  `bills_worker_lost` and the pool is replaced for the next bill; none waits forever.
- Results cross back as plain data (str, bytes, dicts); a Rejected keeps its code and a
  statement timeout stays 503 `bills_query_timeout`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from paycore.bills import reports_pool
from paycore.bills.admission import BillsRefused, refusal_for
from paycore.bills.service import Bills
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.merchants.service import Merchants
from paycore.payments import details
from paycore.platform.config import Settings
from paycore.security.crypto import KEY_BYTES, FieldCipher, load_field_cipher
from paycore.security.masking import install_redaction

log = logging.getLogger(__name__)

T = TypeVar("T")

WORKER_NICE = 10
"""How much lower a worker's CPU priority is than the server's: at 10 the kernel gives a
busy server about ten times a busy worker's share, yet a worker still gets on when the
machine is loaded (at 19 its bills ran into the statement timeout)."""
WORKER_POOL_SIZE = 2
"""Reports connections per worker: it runs one bill at a time, which holds one."""
LOST_RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class BillReader:
    """What a bill is computed from, in a worker or in the server: read-only services."""

    bills: Bills
    merchants: Merchants


Work = Callable[..., T]
"""A module-level function `work(reader, *args)` returning plain data (it is pickled by
name to a worker, so no lambda or closure)."""


class GivenClock:
    """The clock of a worker: the server's `now` of the bill being computed."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


class BillWorkers:
    """Runs `work(reader, *args)` in a worker process (or, with 0 processes, in the server's
    thread pool on `local`). The process pool starts with the first bill."""

    def __init__(
        self,
        *,
        processes: int,
        settings: Settings,
        reports_url: str,
        local: BillReader,
        clock: Clock,
    ) -> None:
        self.processes = processes
        self._settings = settings
        self._reports_url = reports_url
        self._local = local
        self._clock = clock
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self.calls_total = 0
        self.lost_total = 0

    async def run(self, work: Work[T], *args: Any) -> T:
        if self.processes == 0:
            return await run_in_threadpool(work, self._local, *args)
        now = self._clock.now()
        pool = self._current()
        loop = asyncio.get_running_loop()
        try:
            result: T = await loop.run_in_executor(pool, _in_worker, work, now, args)
        except BrokenProcessPool:
            self._replace(pool)
            detail = "the process computing this bill stopped; retry shortly"
            raise BillsRefused(
                "bills_worker_lost", detail, retry_after_s=LOST_RETRY_AFTER_S
            ) from None
        self.calls_total += 1
        return result

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and metrics)."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return sorted(processes)

    def metrics_rows(self) -> list[tuple[str, str, float]]:
        """(name, help, value) for the bills' Prometheus collector (admission.py)."""
        if not self.processes:
            return []
        return [
            ("paycore_bills_worker_processes", "bill worker processes", len(self.pids())),
            ("paycore_bills_worker_calls_total", "bills computed in worker processes",
             self.calls_total),
            ("paycore_bills_worker_lost_total", "bill worker pools lost to a dead process",
             self.lost_total),
        ]  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise BillsRefused("bills_worker_lost", "the server is stopping", retry_after_s=1)
            if self._pool is None:
                self._pool = self._start()
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A new pool for the next bills, once, however many bills saw this one break."""
        with self._lock:
            if self._pool is not broken:
                return
            self.lost_total += 1
            log.error("a bill worker process died; starting a new pool")
            self._pool = None if self._closed else self._start()
        broken.shutdown(wait=False, cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor:
        # forkserver: the server has threads, which fork would copy in mid-lock; each new
        # worker forks from a small server that has already imported this module.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self._settings, self._reports_url),
        )


# --- inside a worker process --------------------------------------------------------------

_reader: BillReader | None = None
_clock = GivenClock(datetime.min)


def _start_worker(settings: Settings, reports_url: str) -> None:
    global _reader
    os.nice(WORKER_NICE)
    _log_to_stderr()
    worker_settings = replace(settings, reports_pool_size=WORKER_POOL_SIZE)
    engine = reports_pool.make_reports_engine(reports_url, worker_settings)
    # Both of Bills' engines are the read-only one: a bill that tried to write would fail.
    # The merchants' sealed fields are never read here: a key of its own that opens
    # nothing. Orders' descriptions are sealed (payments/details.py): exports and pages
    # open them with the field keys, bound to the envelope's data keys on the first sealed
    # row (the server made the first data key when it started: this engine only reads).
    merchants = Merchants(engine, FieldCipher({"bills": os.urandom(KEY_BYTES)}, "bills"), _clock)
    details.use_cipher(engine, lambda: load_field_cipher(settings).bind(engine))
    _reader = BillReader(Bills(engine, engine, _clock), merchants)
    log.info("bill worker started pid=%d nice=%d", os.getpid(), os.nice(0))


def _log_to_stderr() -> None:
    """paycore's records at INFO on the server's stderr (inherited), personal numbers
    masked as in the server; other libraries' warnings go to logging's last resort."""
    paycore = logging.getLogger("paycore")
    if not paycore.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        paycore.addHandler(handler)
        paycore.setLevel(logging.INFO)
    install_redaction()


def _in_worker(work: Work[T], now: datetime, args: tuple[Any, ...]) -> T:
    if _reader is None:  # pragma: no cover - the initializer always ran first
        raise RuntimeError("bill worker not initialised")
    _clock.at = now  # one bill at a time per worker process
    try:
        return work(_reader, *args)
    except Exception as exc:
        refusal = refusal_for(exc)
        if refusal is not None:
            raise refusal from None  # a driver's error need not survive pickling
        if isinstance(exc, Rejected) and type(exc) not in (Rejected, BillsRefused):
            raise Rejected(exc.code, exc.detail) from None  # a subclass may not unpickle
        raise
