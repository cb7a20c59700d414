"""Group commit: one writer thread per process applies every waiting batch in one transaction.

Callers hand their batch to `submit` and wait on a future. The writer takes
everything that queued up while the previous transaction was committing,
applies it in memory, and commits once. A hot account is then read, locked
and written once per group instead of once per transfer, and one fsync
acknowledges many callers. A future resolves only after the commit, so an
acknowledged transfer is durable.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from paycore import limits
from paycore.errors import InvariantViolation
from paycore.ledger.model import Caller, TransferRequest
from paycore.platform.db import WRITER

log = logging.getLogger(__name__)

LINGER_S = 0.001
"""How long the writer may wait for the callers it just answered to come back. Without it a
steady crowd of callers splits into two half-size groups that alternate; with it they stay
one group and each commit acknowledges twice as many transfers. The wait ends as soon as
as many callers are queued as were in the previous group, so a lone caller never waits."""

WRITE_ATTEMPTS_MAX = 8
"""Deadlocks, lock time-outs and id races with another process are retried this often."""


@dataclass(slots=True)
class Job:
    """One caller's batch, or a request to expire the due holds of some accounts."""

    transfers: Sequence[TransferRequest] = ()
    caller: Caller | None = None
    """An API caller, who reaches only some accounts; None for a flow."""
    touch_account_ids: frozenset[str] = frozenset()
    future: Future[list[str]] = field(default_factory=Future)
    lock_hint: set[str] = field(default_factory=set)
    """Accounts a failed attempt found it needed; the retry locks them up front."""
    then: Callable[[Connection, list[str]], None] | None = None
    """A flow's own writes, run in the group's transaction after the transfers and given
    their results: they commit with the transfers or not at all (payments settles an order
    so). Run again if the group is retried, so it must not change anything outside."""


class RetryGroup(Exception):
    """Raised inside the transaction to roll the group back and apply it again afresh."""


class LockOrderRetry(RetryGroup):
    """Locking more accounts now would break the lock order; the retry locks them up front."""


ApplyGroup = Callable[[Connection, Sequence[Job]], list[list[str]]]


class GroupCommitter:
    def __init__(self, engine: Engine, apply_group: ApplyGroup) -> None:
        self._engine = engine
        self._apply_group = apply_group
        self._queue: deque[Job] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._last_group_jobs = 1
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Future[list[str]]:
        with self._ready:
            if self._closed:
                raise RuntimeError("the ledger is closed")
            self._queue.append(job)
            self._ready.notify()
        return job.future

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join()

    def _take_group(self) -> list[Job] | None:
        with self._ready:
            while not self._queue and not self._closed:
                self._ready.wait()
            if not self._queue:
                return None
            deadline = time.monotonic() + LINGER_S
            while len(self._queue) < self._last_group_jobs and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            group = [self._queue.popleft()]
            size = len(group[0].transfers)
            while self._queue and size + len(self._queue[0].transfers) <= limits.TRANSFER_BATCH_MAX:
                job = self._queue.popleft()
                size += len(job.transfers)
                group.append(job)
            self._last_group_jobs = len(group)
        # A caller that gave up while queued (an HTTP task cancelled through
        # asyncio.wrap_future) cancelled its future: nobody waits for that batch, so it is
        # not applied (a retry with the same ids applies it), and the others' futures are
        # marked running so no late cancel can make set_result fail in this thread.
        return [job for job in group if job.future.set_running_or_notify_cancel()]

    def _run(self) -> None:
        try:
            while (group := self._take_group()) is not None:
                if group:
                    self._commit_or_split(group)
        finally:
            self._drop_connection()

    def _commit_or_split(self, group: list[Job]) -> None:
        try:
            results = self._commit_with_retries(group)
        except Exception as exc:
            if len(group) == 1:
                log.exception("ledger write failed", extra={"transfers": len(group[0].transfers)})
                group[0].future.set_exception(exc)
                return
            # One caller's bad batch must not fail everyone else's: retry them one by one.
            for job in group:
                self._commit_or_split([job])
            return
        for job, result in zip(group, results, strict=True):
            job.future.set_result(result)

    def _commit_with_retries(self, group: list[Job]) -> list[list[str]]:
        for attempt in range(1, WRITE_ATTEMPTS_MAX + 1):
            try:
                with self._connection().begin() as transaction:
                    return self._apply_group(transaction.connection, group)
            except RetryGroup:
                if attempt == WRITE_ATTEMPTS_MAX:
                    raise
                continue
            except _RETRIED_ERRORS as exc:
                if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    self._drop_connection()
                if attempt == WRITE_ATTEMPTS_MAX or not _is_retryable(exc):
                    raise
                log.warning("ledger write retried", extra={"attempt": attempt, "error": str(exc)})
        raise InvariantViolation("the retry loop ended without a result")  # pragma: no cover

    def _connection(self) -> Connection:
        """The writer keeps one connection: no pool check-out and reset per group, and the
        driver's prepared statements stay warm."""
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect().execution_options(**WRITER)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_RETRIED_ERRORS: tuple[type[Exception], ...] = (DBAPIError, sqlite3.Error, psycopg.Error)
"""Database errors that may be retried (see `_is_retryable`). The writer's bulk statements
(binary COPY, pipelines, executemany) run on the driver's own cursor, so their errors arrive
unwrapped by SQLAlchemy; they are retried alike."""


def _is_retryable(exc: Exception) -> bool:
    """Contention and races that a fresh attempt resolves: the loser re-reads and sees `exists`."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in {"40001", "40P01", "55P03", "23505"}:
        return True
    message = str(orig).lower()
    return "database is locked" in message or "unique constraint failed" in message
