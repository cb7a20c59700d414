"""Fault injectors of the drills that are not a bank: a database write that fails, a worker
whose loop hangs, and a worker that crashes as soon as it starts (a bad deploy).

`FailingWrites` fails one kind of write at the database driver, below every paycore
module: while on, every UPDATE of `table` that sets `column` to `value` raises the
OperationalError a lost connection or a full disk raises, after the statement reached
the engine and before it ran. Nothing else of the relay is touched: the drill sees what
the seed saw ("16 finance records not pushed after a database write failed").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from paycore.ops.heartbeat import Heartbeats


class DrillWriteFailure(Exception):
    """The driver's error under the OperationalError (what a real failure would carry)."""


class FailingWrites:
    """Fail `UPDATE <table> SET ... <column> = '<value>'` on `engine` while `on`."""

    def __init__(self, engine: Engine, *, table: str, column: str, value: str) -> None:
        self._engine = engine
        self._update = re.compile(rf"^\s*UPDATE\s+{re.escape(table)}\b", re.IGNORECASE)
        self._column = column
        self._value = value
        self.on = False
        self.failed = 0
        """Writes failed so far."""
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._before)

    def remove(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)

    def _before(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        if not self.on or not self._update.match(statement) or self._column not in statement:
            return
        if self._value not in _values(parameters):
            return
        with self._lock:
            self.failed += 1
        raise OperationalError(
            statement, parameters, DrillWriteFailure("drill: the database refused the write")
        )


def _values(parameters: Any) -> list[Any]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    if isinstance(parameters, list | tuple):
        return list(parameters)
    return []


class SteppedWorker:
    """A worker whose loop the drill steps once per tick: each iteration beats (what the
    worker's BeatingStop does when the loop waits); a hung loop makes no iteration."""

    def __init__(self, heartbeats: Heartbeats, name: str, *, interval_s: float) -> None:
        self._heartbeats = heartbeats
        self.name = name
        self.interval_s = interval_s
        self.hung = False

    def hang(self, hung: bool) -> None:
        self.hung = hung

    def iterate(self) -> None:
        if not self.hung:
            self._heartbeats.beat(self.name, self.interval_s)


class BadRelease(Exception):
    """What the bad deploy's worker raises at start (a missing setting, a bad import)."""


def crashing_worker(error: str) -> Callable[[threading.Event], None]:
    """A worker loop that raises before its first iteration."""

    def run(stop: threading.Event) -> None:
        raise BadRelease(error)

    return run


def healthy_worker(interval_s: float) -> Callable[[threading.Event], None]:
    """A worker loop that waits `interval_s` per iteration (and beats while it waits)."""

    def run(stop: threading.Event) -> None:
        while not stop.wait(interval_s):
            pass

    return run
