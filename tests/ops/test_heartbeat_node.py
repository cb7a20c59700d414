"""The node watch: one write per interval for the node's beat and every held worker beat,
and a stall recorded (start and length) when its own sleep took too long, whether the
sleep is simulated or the whole process was really stopped."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event

from paycore.clock import ManualClock
from paycore.ops.heartbeat import NODE_WORKER, Heartbeats
from paycore.ops.heartbeat_node import NodeWatch, Stall
from paycore.ops.model import Thresholds

T = Thresholds()
DEADLINE_S = 10.0


class FakeTime:
    """A monotonic clock and a sleep that moves it and the ManualClock; the sleeps take
    `slept_s` in turn, and the watch is told to stop after the last one."""

    def __init__(self, clock: ManualClock, slept_s: list[float]) -> None:
        self.clock = clock
        self.slept_s = list(slept_s)
        self.now_s = 1000.0

    def monotonic(self) -> float:
        return self.now_s

    def sleep(self, _seconds: float) -> bool:
        if not self.slept_s:
            return True
        took = self.slept_s.pop(0)
        self.now_s += took
        self.clock.advance(took)
        return False


def commits_of(engine: Engine) -> list[int]:
    seen: list[int] = []

    def commit(_conn: Any) -> None:
        seen.append(1)

    event.listen(engine, "commit", commit)
    return seen


def rows_by_worker(hb: Heartbeats) -> dict[str, Any]:
    return {b.worker: b for b in hb.all()}


def test_the_node_beat_and_every_held_worker_beat_are_written_in_one_transaction(
    engine: Engine, clock: ManualClock
) -> None:
    hb = Heartbeats(engine, clock, node="n1", thresholds=T)
    watch = NodeWatch(hb, clock)
    commits = commits_of(engine)
    with watch.batching():
        hb.beat("relay", 0.2)
        hb.beat("flows", 2.0)
        clock.advance(0.5)
        hb.beat("relay", 0.2)
        assert commits == [] and hb.all() == []  # held, not written one by one
        watch.beat()

    assert len(commits) == 1
    rows = rows_by_worker(hb)
    assert set(rows) == {"relay", "flows", NODE_WORKER}
    assert rows["relay"].beat_at == clock.now() == rows[NODE_WORKER].beat_at
    assert rows[NODE_WORKER].interval_s == T.node_beat_every_s
    assert watch.beat_at == clock.now()
    hb.beat("relay", 0.2)  # the watch stopped: beats are written by the worker again
    assert len(commits) == 2


def test_a_sleep_that_took_the_stall_minimum_is_recorded_with_its_start_and_length(
    engine: Engine, clock: ManualClock
) -> None:
    hb = Heartbeats(engine, clock, node="n1", thresholds=T)
    fake = FakeTime(clock, [1.0, T.node_stall_min_s - 0.1, 1.0, 8.0, 1.0])
    watch = NodeWatch(hb, clock, monotonic=fake.monotonic)
    start = clock.now()

    watch.run(threading.Event(), sleep=fake.sleep)

    stall_start = start + timedelta(seconds=1.0 + T.node_stall_min_s - 0.1 + 1.0)
    assert watch.take_stalls() == [Stall(node="n1", started_at=stall_start, length_s=8.0)]
    assert watch.take_stalls() == []  # each is reported once
    assert rows_by_worker(hb)[NODE_WORKER].beat_at == clock.now()
    assert hb.batched is False


class UnwrittenBeats(Heartbeats):
    """Beats that are only counted: the watch then spends all but microseconds of its
    loop asleep, where only a stopped process can make it late (a stop that falls in a
    database write delays the write, which the peers judge, not the sleep)."""

    flushes = 0

    def flush(self) -> None:
        self.flushes += 1


def test_a_process_really_stopped_is_seen_by_its_node_watch(
    engine: Engine, clock: ManualClock
) -> None:
    """SIGSTOP the whole test process for half a second (a child process sends SIGCONT):
    the watch, beating every 50 ms, finds a sleep that took at least that long."""
    quick = Thresholds(node_beat_every_s=0.05, node_stall_min_s=0.3)
    watch = NodeWatch(UnwrittenBeats(engine, clock, node="n1", thresholds=quick), clock)
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    thread.start()
    stalls: list[Stall] = []
    try:
        pid = os.getpid()
        stopper = subprocess.Popen(["sh", "-c", f"kill -STOP {pid}; sleep 0.5; kill -CONT {pid}"])
        stopper.wait(timeout=DEADLINE_S)
        deadline = time.monotonic() + DEADLINE_S
        while not stalls and time.monotonic() < deadline:
            stalls += watch.take_stalls()
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=DEADLINE_S)

    assert stopper.returncode == 0
    assert [s.length_s >= 0.5 for s in stalls] == [True]


def test_each_beat_gives_its_looks_the_time_and_a_failing_look_stops_nothing(
    engine: Engine, clock: ManualClock
) -> None:
    watch = NodeWatch(Heartbeats(engine, clock, node="n1", thresholds=T), clock)
    seen: list[datetime] = []

    def broken(_now: datetime) -> None:
        raise RuntimeError("a detector's sample failed")

    watch.on_beat += [broken, seen.append]
    watch.beat()
    clock.advance(1)
    watch.beat()

    assert seen == [clock.now() - timedelta(seconds=1), clock.now()]
    assert rows_by_worker(watch.heartbeats)[NODE_WORKER].beat_at == clock.now()
