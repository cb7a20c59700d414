"""Admission control for bill requests: per-merchant concurrency and rate limits, so the
month-end storm gets 429 with Retry-After instead of exhausting a pool (the 3/1 incident).

Every heavy bill route takes `dependencies=[Depends(admit)]`. A request is admitted while
- fewer bills run in this process than the reports pool has connections (its size), so
  an admitted bill never waits for one: else 429 `bills_busy`;
- fewer than PAYCORE_BILLS_CONCURRENCY_PER_MERCHANT (2) run for its merchant: else 429
  `bills_busy`, so one merchant's storm leaves room for the others;
- only where bills run in this process (PAYCORE_BILLS_PROCESSES=0, see workers.py): bills
  used no more than PAYCORE_BILLS_TIME_SHARE (0.2) of its time lately (their wall time
  added up, at most 1 s saved): else 429 `bills_busy`. There a bill is Python beside the
  pay-ins, and bills admitted one after another took ~80% of the process in a storm.
  In worker processes they take none of it, and the share only starved them;
- its merchant's token bucket (PAYCORE_BILLS_RATE_PER_S 1, PAYCORE_BILLS_BURST 10) has a
  token: else 429 `bills_rate_limited`, Retry-After when the first token not yet promised
  to an earlier refusal is due (so a merchant's waiting readers come back one by one).
A refusal is decided in memory, on the event loop, without the database. The Retry-After
of `bills_busy` is the expected wait (refusals within the last Retry-After, times the
average bill time, over the slots; 1-60 s), so readers who honour it come back about as
fast as slots free up instead of 150 times a second. A bill query past its deadline
(reports_pool.py) is 503 `bills_query_timeout` with Retry-After 30.

The limits are per server process (`serve --workers N` admits N times as much, as it has
N reports pools). A limit shared by every process (Redis, PostgreSQL) is not built.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from paycore.bills import reports_pool
from paycore.errors import Rejected
from paycore.platform.config import Settings
from paycore.security.api import authenticated
from paycore.security.model import Principal
from paycore.web.problems import problem

if TYPE_CHECKING:
    from paycore.bills.workers import BillWorkers

BUSY_RETRY_AFTER_S_MAX = 60
"""The longest wait a busy refusal asks for (see `Admission.busy_retry_after_s`)."""
BILL_TIME_SMOOTHING = 0.1
"""Weight of the newest bill in the running average of how long a bill holds its slot."""
REFUSALS_TRACKED_MAX = 100_000
QUERY_TIMEOUT_RETRY_AFTER_S = 30
"""A bill that ran out of time will likely do so again while the database is as busy."""
MERCHANTS_TRACKED_MAX = 10_000
"""Token buckets kept; the least recently used goes first (it comes back full)."""
PLATFORM = "platform"
"""The bucket of a platform key's requests that name no merchant."""

REFUSAL_STATUS = {
    "bills_busy": 429,
    "bills_rate_limited": 429,
    "bills_query_timeout": 503,
    "bills_worker_lost": 503,
}

_RETRY_AFTER = {"description": "seconds to wait before asking again", "schema": {"type": "integer"}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "`bills_busy` (this server runs as many bills as it may) or "
        "`bills_rate_limited` (this merchant asked for more bills a second than it may): "
        "nothing was done; ask again after `Retry-After` seconds.",
        "headers": {"Retry-After": _RETRY_AFTER},
    },
    503: {
        "description": "`bills_query_timeout`: a query of this bill ran past the statement "
        "timeout; ask again after `Retry-After` seconds, or for less (a day, a filter). "
        "`bills_worker_lost`: the process computing it stopped; ask again shortly.",
        "headers": {"Retry-After": _RETRY_AFTER},
    },
}
"""What a route with `admit` may answer besides its own: its router declares
`responses=RESPONSES` so the OpenAPI document (and the contract test) knows."""


class BillsRefused(Rejected):
    """A bill turned away for load, to retry after `retry_after_s` (`install` answers it)."""

    def __init__(self, code: str, detail: str, *, retry_after_s: int) -> None:
        super().__init__(code, detail)
        self.status = REFUSAL_STATUS[code]
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a bill worker process (workers.py), it crosses back pickled.
        return _refused, (self.code, self.detail, self.retry_after_s)


def _refused(code: str, detail: str, retry_after_s: int) -> BillsRefused:
    return BillsRefused(code, detail, retry_after_s=retry_after_s)


class TokenBucket:
    """`burst` tokens, refilled at `rate_per_s`; time is given, so the rule is pure."""

    __slots__ = ("burst", "promised_s", "rate_per_s", "tokens", "updated_s")

    def __init__(self, *, rate_per_s: float, burst: int, now_s: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and room for one token")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.updated_s = now_s
        self.promised_s = now_s

    def take(self, now_s: float) -> float:
        """Take a token: 0.0, or the seconds until one is due (none is taken then)."""
        elapsed = max(0.0, now_s - self.updated_s)  # a clock that steps back refills nothing
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate_per_s)
        self.updated_s = max(self.updated_s, now_s)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s

    def promise(self, now_s: float, wait_s: float) -> float:
        """How long a caller refused for `wait_s` should wait: until the first token not yet
        promised to an earlier refusal (at most BUSY_RETRY_AFTER_S_MAX). Told `wait_s`, a
        merchant's 20 readers came back together every second, 19 refused again."""
        at_s = max(now_s + wait_s, self.promised_s)
        if at_s - now_s > BUSY_RETRY_AFTER_S_MAX:
            return BUSY_RETRY_AFTER_S_MAX
        self.promised_s = at_s + 1.0 / self.rate_per_s
        return at_s - now_s


class TimeBudget:
    """Seconds of bills allowed per second of wall time (`share`), saved up to `burst_s`.
    A bill may start while some is left and pays its duration when it ends (into debt if
    it ran long), so over time bills run `share` of the time at most."""

    __slots__ = ("burst_s", "left_s", "share", "updated_s")

    def __init__(self, *, share: float, burst_s: float, now_s: float) -> None:
        if share <= 0 or burst_s <= 0:
            raise ValueError("a time budget needs a positive share and size")
        self.share = share
        self.burst_s = burst_s
        self.left_s = burst_s
        self.updated_s = now_s

    def wait_s(self, now_s: float) -> float:
        """0.0 if a bill may start now, else the seconds until the debt is paid off."""
        elapsed = max(0.0, now_s - self.updated_s)
        self.left_s = min(self.burst_s, self.left_s + elapsed * self.share)
        self.updated_s = max(self.updated_s, now_s)
        return 0.0 if self.left_s > 0 else -self.left_s / self.share + 1e-3

    def spend(self, took_s: float, now_s: float) -> None:
        self.wait_s(now_s)
        self.left_s -= took_s


@dataclass(frozen=True, slots=True)
class Limits:
    running_max: int
    running_per_merchant_max: int
    rate_per_s: float
    burst: int
    time_share: float | None
    """None: no time budget (bills run in worker processes, taking none of this one's)."""

    @classmethod
    def of(cls, settings: Settings, *, in_workers: bool = False) -> Limits:
        return cls(
            running_max=settings.reports_pool_size,
            running_per_merchant_max=settings.bills_concurrency_per_merchant,
            rate_per_s=settings.bills_rate_per_s,
            burst=settings.bills_burst,
            time_share=None if in_workers else settings.bills_time_share,
        )


class Admission:
    """The in-process state of the limits: bills running, per merchant and in all, and each
    merchant's bucket. `enter` admits or raises BillsRefused; `leave` frees the slot."""

    def __init__(self, limits: Limits, *, monotonic: Callable[[], float] = time.monotonic):
        if limits.running_max < 1 or limits.running_per_merchant_max < 1:
            raise ValueError("admission needs room for one bill at least")
        self.limits = limits
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._refused_at: deque[float] = deque(maxlen=REFUSALS_TRACKED_MAX)
        self._bill_s = 0.0
        self._retry_after_s = 1
        share = limits.time_share
        # Saved up to one second of the process's bill time: a quiet process lets a few
        # bills start at once, never a second's worth more than its share.
        self._time = (
            None
            if share is None
            else TimeBudget(share=share, burst_s=max(1.0, share), now_s=monotonic())
        )
        self.running = 0
        self.admitted_total = 0
        self.refused_total: dict[str, int] = dict.fromkeys(
            ("bills_busy", "bills_rate_limited", "bills_query_timeout"), 0
        )
        self.workers: BillWorkers | None = None  # for the metrics (runtime.py sets it)

    def enter(self, merchant: str) -> float:
        """Admit a bill of `merchant` (or raise BillsRefused); the instant it started."""
        with self._lock:
            now_s = self._monotonic()
            refusal = self._refusal(merchant, now_s)
            if refusal is not None:
                self.refused_total[refusal.code] += 1
                raise refusal
            self.running += 1
            self._running[merchant] = self._running.get(merchant, 0) + 1
            self.admitted_total += 1
            return now_s

    def leave(self, merchant: str, started_s: float | None = None) -> None:
        with self._lock:
            if started_s is not None:
                now_s = self._monotonic()
                took_s = max(0.0, now_s - started_s)
                self._bill_s += BILL_TIME_SMOOTHING * (took_s - self._bill_s)
                if self._time is not None:
                    self._time.spend(took_s, now_s)
            self.running -= 1
            left = self._running.pop(merchant) - 1
            if left:
                self._running[merchant] = left

    def count(self, refusal: BillsRefused) -> None:
        """A refusal decided after admission (a statement timeout), for the metrics."""
        with self._lock:
            self.refused_total[refusal.code] = self.refused_total.get(refusal.code, 0) + 1

    def busy_retry_after_s(self, now_s: float) -> int:
        """When a busy refusal should come back: the bills waiting (those refused within the
        last Retry-After, each counted once if they honour it), times how long a bill holds
        a slot, over the slots; 1 to 60 s. Retry-After: 1 in a storm of 200 readers made 150
        refusals a second, each a request the process serves beside the pay-ins."""
        refused = self._refused_at
        refused.append(now_s)
        while refused[0] < now_s - self._retry_after_s:
            refused.popleft()
        waiting_s = len(refused) * self._bill_s / self.limits.running_max
        self._retry_after_s = min(BUSY_RETRY_AFTER_S_MAX, max(1, math.ceil(waiting_s)))
        return self._retry_after_s

    def _refusal(self, merchant: str, now_s: float) -> BillsRefused | None:
        limits = self.limits
        if self.running >= limits.running_max:
            detail = f"{limits.running_max} bills are running on this server; retry later"
            return BillsRefused("bills_busy", detail, retry_after_s=self.busy_retry_after_s(now_s))
        if self._running.get(merchant, 0) >= limits.running_per_merchant_max:
            detail = f"{limits.running_per_merchant_max} bills of this merchant are running"
            return BillsRefused("bills_busy", detail, retry_after_s=self.busy_retry_after_s(now_s))
        debt_s = 0.0 if self._time is None else self._time.wait_s(now_s)
        if debt_s > 0:
            detail = f"bills used their share ({limits.time_share:g}) of this server's time"
            retry_after_s = max(self.busy_retry_after_s(now_s), math.ceil(debt_s))
            return BillsRefused("bills_busy", detail, retry_after_s=retry_after_s)
        bucket = self._bucket(merchant)
        wait_s = bucket.take(now_s)
        if wait_s > 0:
            detail = f"more than {limits.rate_per_s:g} bills a second for this merchant"
            wait_s = bucket.promise(now_s, wait_s)
            return BillsRefused(
                "bills_rate_limited", detail, retry_after_s=max(1, math.ceil(wait_s))
            )
        return None

    def _bucket(self, merchant: str) -> TokenBucket:
        bucket = self._buckets.get(merchant)
        if bucket is None:
            limits = self.limits
            now_s = self._monotonic()
            bucket = TokenBucket(rate_per_s=limits.rate_per_s, burst=limits.burst, now_s=now_s)
            self._buckets[merchant] = bucket
            if len(self._buckets) > MERCHANTS_TRACKED_MAX:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(merchant)
        return bucket


def merchant_of(request: Request, principal: Principal) -> str:
    """Whose limits a request spends: a merchant key's own merchant (it sees no other's
    bills, so it cannot spend another's budget by naming it), else the `{merchant}` in the
    path or `merchant_id` in the query that a platform key names."""
    if principal.merchant_id is not None:
        return principal.merchant_id
    named = request.path_params.get("merchant") or request.query_params.get("merchant_id")
    return str(named) if named else PLATFORM


async def admit(
    request: Request, principal: Annotated[Principal, Depends(authenticated)]
) -> AsyncIterator[None]:
    """A FastAPI dependency for every heavy bill route: holds a slot for the request's
    merchant while it runs (a streamed answer: until its last byte is sent)."""
    from paycore.bills import front  # it builds on this module

    admission: Admission = request.app.state.runtime.bills_admission
    ticket = front.taken(request.scope)  # admitted before the router (front.py)
    if ticket is not None:
        merchant, started_s = ticket.merchant, ticket.started_s
    else:
        merchant = merchant_of(request, principal)
        started_s = admission.enter(merchant)
    try:
        yield
    except BillsRefused as refused:  # decided in a bill worker (workers.py)
        admission.count(refused)
        raise
    except Exception as exc:
        refusal = refusal_for(exc)
        if refusal is None:
            raise
        admission.count(refusal)
        raise refusal from exc
    finally:
        admission.leave(merchant, started_s)


def refusal_for(exc: BaseException) -> BillsRefused | None:
    """A bill query that ran out of time, or (never while admission holds) a reports pool
    that had no connection to give: retryable refusals, not server errors."""
    if reports_pool.is_statement_timeout(exc):
        detail = "the bill took longer than the statement timeout; retry later or narrow it"
        return BillsRefused(
            "bills_query_timeout", detail, retry_after_s=QUERY_TIMEOUT_RETRY_AFTER_S
        )
    if reports_pool.is_pool_timeout(exc):
        detail = "no reports connection was free; retry shortly"
        return BillsRefused("bills_busy", detail, retry_after_s=1)
    return None


async def on_refused(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, BillsRefused):  # pragma: no cover - registered for it only
        raise exc
    response = problem(exc.status, exc.code, exc.detail)
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def install(app: FastAPI) -> None:
    """Answer refusals with their status and Retry-After, those decided before the router
    too (idempotent; app.py calls it)."""
    from paycore.bills.front import BillsFront  # it builds on this module

    if BillsRefused not in app.exception_handlers:
        app.add_exception_handler(BillsRefused, on_refused)
        # Refusals before the router, where they cost least (front.py).
        app.router.middleware_stack = BillsFront(app.router.middleware_stack)


class BillsCollector(Collector):
    """Admission and reports pool figures of this process, read at scrape time."""

    def __init__(self, admission: Admission, reports_engine: Engine) -> None:
        self._admission = admission
        self._reports_engine = reports_engine

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        admission = self._admission
        yield GaugeMetricFamily(
            "paycore_bills_running", "bill requests running in this process", admission.running
        )
        yield CounterMetricFamily(
            "paycore_bills_admitted", "bill requests admitted", admission.admitted_total
        )
        refused = CounterMetricFamily(
            "paycore_bills_refused", "bill requests refused for load", labels=["code"]
        )
        for code, total in sorted(admission.refused_total.items()):
            refused.add_metric([code], total)
        yield refused
        rows = list(reports_pool.pool_metrics_rows(self._reports_engine))
        if admission.workers is not None:
            rows += admission.workers.metrics_rows()
        for name, documentation, value in rows:
            kind = CounterMetricFamily if name.endswith("_total") else GaugeMetricFamily
            yield kind(name.removesuffix("_total"), documentation, value)
