"""The janitor's loop: one sweep per interval, the next at once while a backlog lasts."""

from __future__ import annotations

import threading

from paycore import limits
from paycore.payments.janitor import Janitor, SweepReport, run_janitor

INTERVAL_S = 5.0
FULL = limits.JANITOR_BATCH_MAX


class RecordedWaits(threading.Event):
    """A stop event that records how long the loop asks to wait, and stops it after the
    scripted number of waits; nothing really waits."""

    def __init__(self, waits_max: int) -> None:
        super().__init__()
        self.waits: list[float | None] = []
        self.waits_max = waits_max

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return len(self.waits) > self.waits_max


class ScriptedJanitor(Janitor):
    """Each sweep takes the next scripted number of orders (or raises it)."""

    def __init__(self, taken: list[int | Exception]) -> None:
        self.taken = list(taken)

    def sweep(self, *, limit: int = limits.JANITOR_BATCH_MAX) -> SweepReport:
        queried = self.taken.pop(0)
        if isinstance(queried, Exception):
            raise queried
        return SweepReport(queried=queried, resolved=queried, still_waiting=0, errors=0)


def waits_between(taken: list[int | Exception]) -> list[float | None]:
    stop = RecordedWaits(waits_max=len(taken))
    run_janitor(ScriptedJanitor(taken), interval_s=INTERVAL_S, stop=stop)
    return stop.waits


def test_a_full_batch_is_followed_by_the_next_sweep_without_waiting_an_interval() -> None:
    waits = waits_between([FULL, FULL, 3])

    assert waits == [INTERVAL_S, 0.0, 0.0, INTERVAL_S]


def test_a_sweep_short_of_a_batch_waits_one_interval_before_the_next() -> None:
    waits = waits_between([FULL - 1, 0, 0])

    assert waits == [INTERVAL_S] * 4


def test_a_failing_sweep_does_not_stop_the_loop_and_waits_one_interval() -> None:
    waits = waits_between([RuntimeError("database went away"), FULL, 0])

    assert waits == [INTERVAL_S, INTERVAL_S, 0.0, INTERVAL_S]
