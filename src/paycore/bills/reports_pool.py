"""The reports pool: the bounded, read-only engine every bill query runs on.

The 3/1 incident: month-end bills took every connection of the one pool payments used.
So bills read through an engine of their own, always: on PAYCORE_REPORTS_DATABASE_URL (a
read replica) when set, else a second engine on the main database. Its pool is small
(PAYCORE_REPORTS_POOL_SIZE, no overflow) and waits briefly (PAYCORE_REPORTS_POOL_TIMEOUT_S);
admission (`admission.py`) lets no more bills run than it has connections, so a bill never
waits for one and payments never wait for a bill.

Every statement on it has a deadline (PAYCORE_BILLS_STATEMENT_TIMEOUT_MS):
- PostgreSQL: `statement_timeout` set at connect, on this engine only. A streamed result
  (a server-side cursor) is timed per fetch, as PostgreSQL times each FETCH.
- SQLite: a progress handler interrupts the statement once its deadline has passed. The
  deadline runs from execute until the next statement, commit or rollback; a streamed
  result (`stream_results`) is timed on its first step only (where a sort or an aggregate
  does its work), so an export may take its time to consume its rows.
A timed-out statement is `bills_query_timeout` (see `refusal_for`), never a 500.

Both are read-only sessions (`default_transaction_read_only`, `PRAGMA query_only`): what a
replica allows is all the main database allows here, so a bill that would write fails in
tests, not first in production on the replica.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool

from paycore.platform.config import Settings, ensure_sqlite_dir

log = logging.getLogger(__name__)

PROGRESS_STEPS = 10_000
"""SQLite virtual machine steps between two looks at the clock: ~0.1-1 ms of work, so a
deadline is kept to about a millisecond at a cost too small to measure."""

PG_QUERY_CANCELED = "57014"
"""SQLSTATE of a statement cancelled by statement_timeout."""

PG_OPTIONS = "-c plan_cache_mode=force_custom_plan -c random_page_cost=1.1"
"""The planner settings of the main engine (see platform/db.py): bills pass id lists as
arrays too."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    size: int
    in_use: int
    waiting: int
    waits_total: int
    timeouts_total: int


class WatchedPool(QueuePool):
    """A QueuePool that counts the checkouts that found no free connection (they wait) and
    those that gave up: both should stay 0 while admission holds bills to the pool's size.
    An exhausted pool is logged, since it means admission and pool disagree."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counts_lock = threading.Lock()
        self.waiting = 0
        self.waits_total = 0
        self.timeouts_total = 0

    def _do_get(self) -> Any:
        if self.checkedin() > 0 or self.checkedout() < self.size():
            return super()._do_get()
        with self._counts_lock:
            self.waiting += 1
            self.waits_total += 1
        log.warning("reports pool exhausted: a bill waits for a connection")
        try:
            return super()._do_get()
        except PoolTimeout:
            with self._counts_lock:
                self.timeouts_total += 1
            raise
        finally:
            with self._counts_lock:
                self.waiting -= 1


def reports_url(settings: Settings, engine: Engine) -> str:
    """Where bills read: PAYCORE_REPORTS_DATABASE_URL, else the main engine's database."""
    if settings.reports_database_url:
        return settings.reports_database_url
    return engine.url.render_as_string(hide_password=False)


def shares_memory(url: str) -> bool:
    """An in-memory SQLite database exists once per engine: a second engine would read an
    empty one, so bills must read through the main engine there."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_reports_engine(url: str, settings: Settings) -> Engine:
    """The bounded, read-only engine with a statement timeout (see the module's doc)."""
    timeout_ms = settings.bills_statement_timeout_ms
    pool = {
        "poolclass": WatchedPool,
        "pool_size": settings.reports_pool_size,
        "max_overflow": 0,
        "pool_timeout": settings.reports_pool_timeout_s,
    }
    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
        connect_args = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(url, connect_args=connect_args, **pool)
        _configure_sqlite(engine, timeout_ms)
        return engine
    options = f"{PG_OPTIONS} -c statement_timeout={timeout_ms} -c default_transaction_read_only=on"
    # Pinging at checkout: a replica restarts or fails over; bills are not the hot path.
    return create_engine(url, connect_args={"options": options}, pool_pre_ping=True, **pool)


def pool_stats(engine: Engine) -> PoolStats | None:
    pool = engine.pool
    if not isinstance(pool, WatchedPool):
        return None  # a test's own engine, or in-memory SQLite: not bounded here
    with pool._counts_lock:
        return PoolStats(
            size=pool.size(),
            in_use=pool.checkedout(),
            waiting=pool.waiting,
            waits_total=pool.waits_total,
            timeouts_total=pool.timeouts_total,
        )


def is_statement_timeout(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == PG_QUERY_CANCELED:
        return True
    return isinstance(orig, sqlite3.OperationalError) and str(orig) == "interrupted"


def is_pool_timeout(exc: BaseException) -> bool:
    return isinstance(exc, PoolTimeout)


class _Deadline:
    """When the running statement of one SQLite connection must stop (monotonic seconds)."""

    __slots__ = ("at_s",)

    def __init__(self) -> None:
        self.at_s = math.inf

    def passed(self) -> int:
        # sqlite3 interrupts the statement when the handler returns non-zero.
        return 1 if time.monotonic() > self.at_s else 0


def _configure_sqlite(engine: Engine, timeout_ms: int) -> None:
    timeout_s = timeout_ms / 1000

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin where SQLAlchemy says
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        deadline = _Deadline()
        record.info["paycore_deadline"] = deadline
        dbapi_connection.set_progress_handler(deadline.passed, PROGRESS_STEPS)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Any, _cursor: Any, _sql: Any, _params: Any, _context: Any, _many: Any) -> None:
        _deadline_of(conn.info).at_s = time.monotonic() + timeout_s

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, _sql: Any, _params: Any, context: Any, _many: Any) -> None:
        if context is not None and context.execution_options.get("stream_results"):
            _deadline_of(conn.info).at_s = math.inf

    # A commit or rollback must never be interrupted: the connection would be lost.
    for name in ("commit", "rollback"):
        event.listen(engine, name, lambda conn: _disarm(conn.info))
    event.listen(engine.pool, "reset", lambda _dbapi, record, _state: _disarm(record.info))


def _deadline_of(info: dict[str, Any]) -> _Deadline:
    deadline: _Deadline = info["paycore_deadline"]
    return deadline


def _disarm(info: dict[str, Any]) -> None:
    deadline = info.get("paycore_deadline")
    if deadline is not None:
        deadline.at_s = math.inf


def pool_metrics_rows(engine: Engine) -> Iterator[tuple[str, str, float]]:
    """(name, help, value) of the reports pool, for the bills' Prometheus collector."""
    stats = pool_stats(engine)
    if stats is None:
        return
    yield "paycore_reports_pool_size", "connections the reports pool may hold", stats.size
    yield "paycore_reports_pool_in_use", "reports connections checked out now", stats.in_use
    yield "paycore_reports_pool_waiting", "bill queries waiting for a connection", stats.waiting
    yield (
        "paycore_reports_pool_waits_total",
        "checkouts that found the reports pool exhausted (admission keeps it 0)",
        stats.waits_total,
    )
    yield (
        "paycore_reports_pool_timeouts_total",
        "checkouts that gave up waiting for a reports connection",
        stats.timeouts_total,
    )
