"""Workers beat through their stop event; a hung one goes stale; one that raises is
restarted with capped exponential backoff, its restarts counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, create_engine

from paycore.clock import ManualClock
from paycore.ops.heartbeat import BeatingStop, Heartbeats, WorkerWatch, is_stale, node_name
from paycore.ops.model import Thresholds

FAST = Thresholds(restart_backoff_s=1.0, restart_backoff_max_s=4.0, crash_restarts_min=3)
DEADLINE_S = 10.0


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def beats(engine: Engine, clock: ManualClock, t: Thresholds = FAST) -> Heartbeats:
    return Heartbeats(engine, clock, node="test-node", thresholds=t)


def test_a_beating_stop_beats_on_wait_and_is_set_and_follows_the_real_event() -> None:
    real = threading.Event()
    seen: list[float | None] = []
    stop = BeatingStop(real, seen.append)

    assert stop.wait(0.001) is False
    assert stop.is_set() is False
    real.set()
    assert stop.wait(5) is True and stop.is_set()
    assert seen == [0.001, 0.001, 5, 5]


def test_beats_are_throttled_to_one_write_per_worker_every_few_seconds(
    engine: Engine, clock: ManualClock
) -> None:
    hb = beats(engine, clock)
    first = clock.now()
    hb.beat("relay", 0.2)
    clock.advance(FAST.heartbeat_every_s - 1)
    hb.beat("relay", 0.2)
    assert [b.beat_at for b in hb.all()] == [first]
    clock.advance(1)
    hb.beat("relay", 0.2)
    assert [b.beat_at for b in hb.all()] == [clock.now()]


def test_a_longer_wait_is_written_at_once_so_the_worker_does_not_look_hung(
    engine: Engine, clock: ManualClock
) -> None:
    hb = beats(engine, clock)
    hb.beat("exports", 0.0)  # asked whether to stop before its first wait
    clock.advance(1)
    hb.beat("exports", 60.0)
    clock.advance(1)
    hb.beat("exports", 2.0)  # a shorter one waits for the throttle

    (beat,) = hb.all()
    assert beat.interval_s == 60.0
    clock.advance(60 + FAST.heartbeat_margin_s)
    assert not is_stale(beat, clock.now(), FAST)


def test_a_beat_the_database_refuses_does_not_reach_the_worker(clock: ManualClock) -> None:
    no_tables = create_engine("sqlite://")
    try:
        beats(no_tables, clock).beat("relay", 0.2)  # no ops_heartbeats table: logged only
    finally:
        no_tables.dispose()


def test_a_hung_worker_stops_beating_and_goes_stale(engine: Engine, clock: ManualClock) -> None:
    hb = beats(engine, clock)
    stop, hang, hung = threading.Event(), threading.Event(), threading.Event()

    def worker(stop_event: threading.Event, interval_s: float) -> None:
        for _ in range(3):
            stop_event.wait(interval_s)
            clock.advance(FAST.heartbeat_every_s)
        hung.set()
        hang.wait(DEADLINE_S)  # an iteration that never finishes

    run = WorkerWatch(hb, clock).wrap("flows", worker, (stop, 0.001), {}, stop=stop)
    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert hung.wait(DEADLINE_S)
        (beat,) = hb.all()
        assert beat.interval_s == 0.001 and not is_stale(beat, clock.now(), FAST)
        clock.advance(FAST.heartbeat_every_s + FAST.heartbeat_margin_s + 1)
        assert is_stale(beat, clock.now(), FAST)
    finally:
        stop.set()
        hang.set()
        thread.join(DEADLINE_S)


class RecordingStop(threading.Event):
    """A stop event that records the backoff waits instead of sleeping through them."""

    def __init__(self, stop_after: int) -> None:
        super().__init__()
        self.waits: list[float | None] = []
        self._stop_after = stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if len(self.waits) >= self._stop_after:
            self.set()
        return self.is_set()


def test_a_crashing_worker_is_restarted_with_capped_exponential_backoff(
    engine: Engine, clock: ManualClock
) -> None:
    hb = beats(engine, clock)
    stop = RecordingStop(stop_after=5)
    runs: list[int] = []

    def worker() -> None:
        runs.append(1)
        raise RuntimeError(f"bad config {len(runs)}")

    WorkerWatch(hb, clock).supervise("flows", worker, stop=stop)

    assert len(runs) == 5
    assert stop.waits == [1.0, 2.0, 4.0, 4.0, 4.0]
    (beat,) = hb.all()
    assert beat.restarts == 5 and beat.last_error == "RuntimeError: bad config 5"


def test_crashes_far_apart_are_not_a_loop(engine: Engine, clock: ManualClock) -> None:
    hb = beats(engine, clock)
    stop = RecordingStop(stop_after=3)

    def worker() -> None:
        clock.advance(FAST.crash_window_s + 1)  # ran well for a whole window, then failed
        raise RuntimeError("rare")

    WorkerWatch(hb, clock).supervise("flows", worker, stop=stop)

    assert stop.waits == [1.0, 1.0, 1.0]
    assert [b.restarts for b in hb.all()] == [1]


def test_a_worker_that_returns_before_the_stop_is_restarted_and_one_that_stops_is_not(
    engine: Engine, clock: ManualClock
) -> None:
    hb = beats(engine, clock)
    stop = RecordingStop(stop_after=2)
    WorkerWatch(hb, clock).supervise("flows", lambda: None, stop=stop)
    assert [b.last_error for b in hb.all()] == ["returned before the stop"]

    stopped = threading.Event()
    stopped.set()
    calls: list[int] = []
    WorkerWatch(hb, clock).supervise("janitor", lambda: calls.append(1), stop=stopped)
    assert calls == [1]
    assert {b.worker: b.restarts for b in hb.all()}["janitor"] == 0


def test_wrap_hands_the_beating_stop_wherever_the_real_one_was_passed(
    engine: Engine, clock: ManualClock
) -> None:
    stop = threading.Event()
    got: list[object] = []

    def worker(*args: object, **kwargs: object) -> None:
        got.extend([*args, *kwargs.values()])
        stop.set()

    run = WorkerWatch(beats(engine, clock), clock).wrap(
        "janitor", worker, ("x", stop), {"stop": stop, "interval_s": 5}, stop=stop
    )
    run()

    assert got[0] == "x" and got[3] == 5
    assert isinstance(got[1], BeatingStop) and got[1] is got[2]


def test_a_clean_stop_forgets_the_nodes_workers(engine: Engine, clock: ManualClock) -> None:
    mine, other = beats(engine, clock), Heartbeats(engine, clock, node="other", thresholds=FAST)
    mine.beat("flows", 1)
    other.beat("flows", 1)
    mine.forget()
    assert [b.node for b in mine.all()] == ["other"]


def test_the_node_is_paycore_node_when_set_else_host_and_pid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYCORE_NODE", "api-1")
    assert node_name() == "api-1"
    monkeypatch.delenv("PAYCORE_NODE")
    assert node_name().endswith(f":{__import__('os').getpid()}")
