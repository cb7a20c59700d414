"""bad-deploy: release v2 of a node whose worker raises as soon as it starts. The worker
runs under the real supervisor (ops/heartbeat.WorkerWatch), in a thread: it crashes, is
restarted with backoff, crashes again, and each start is counted in its heartbeat row.
The crash-loop detector opens an incident. "Rolling back" stops the v2 node (a clean stop
forgets its rows) and starts v1, whose worker runs and beats; the incident closes.

The supervisor's backoff is real time; the drill shortens it (RESTART_BACKOFF_S) so a loop
of restarts takes a fraction of a second, and waits for the restarts with a deadline.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable

from paycore.ops.drill_faults import crashing_worker, healthy_worker
from paycore.ops.drill_sandbox import Sandbox
from paycore.ops.drill_traffic import Traffic
from paycore.ops.drills import Driver, Verdict
from paycore.ops.heartbeat import Heartbeats, WorkerWatch
from paycore.ops.model import Thresholds

WORKER = "drill-settlement"
TICK_S = 10
RESTART_BACKOFF_S = 0.02
RESTART_BACKOFF_MAX_S = 0.2
HEALTHY_WAIT_S = 300.0
"""v1's worker waits this long per iteration (a periodic job), beating at each wait."""
RESTARTS_WAIT_S = 10.0
"""Real seconds allowed for the supervisor to count the restarts of a crash loop."""
JOIN_S = 10.0


class Node:
    """One release of a node: its heartbeats and its supervised worker thread."""

    def __init__(
        self, box: Sandbox, thresholds: Thresholds, name: str, worker: Callable[..., None]
    ) -> None:
        self.heartbeats = Heartbeats(
            box.runtime.engine, box.clock, node=name, thresholds=thresholds
        )
        self.name = name
        self._stop = threading.Event()
        watch = WorkerWatch(self.heartbeats, box.clock)
        target = watch.wrap(WORKER, worker, (self._stop,), {}, stop=self._stop)
        self._thread = threading.Thread(target=target, name=f"{name}-{WORKER}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """A clean stop: the supervisor returns and the node's rows are forgotten."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(JOIN_S)
        self.heartbeats.forget()

    def restarts(self) -> int:
        rows = [b for b in self.heartbeats.all() if b.node == self.name and b.worker == WORKER]
        return rows[0].restarts if rows else 0

    def beat_at(self) -> object:
        rows = [b for b in self.heartbeats.all() if b.node == self.name and b.worker == WORKER]
        return rows[0].beat_at if rows else None


def run(driver: Driver, box: Sandbox, traffic: Traffic, thresholds: Thresholds) -> None:
    fast = dataclasses.replace(
        thresholds, restart_backoff_s=RESTART_BACKOFF_S, restart_backoff_max_s=RESTART_BACKOFF_MAX_S
    )
    tag = f"{os.getpid()}"
    bad = Node(box, fast, f"drill-v2:{tag}", crashing_worker("settings: no such key 'pool'"))
    good = Node(box, fast, f"drill-v1:{tag}", healthy_worker(HEALTHY_WAIT_S))
    traffic.payins(3)
    driver.beside_tick.append(lambda: _payin(driver, traffic))
    bad.start()
    driver.fault(f"release v2: worker {WORKER} raises at start")
    try:
        _wait(lambda: bad.restarts() >= fast.crash_restarts_min)
        driver.note(f"the supervisor restarted {WORKER} {bad.restarts()} times")
        driver.timeline.facts["restarts_seen"] = bad.restarts()
        driver.await_incidents()
        bad.stop()
        good.start()
        driver.recover("rolled back to v1: v2 stopped, v1's worker runs")
        _wait(lambda: good.beat_at() is not None)
        driver.await_closed()
        driver.timeline.verdicts.append(_beating(driver, good))
    finally:
        bad.stop()
        good.stop()
        driver.beside_tick.clear()


def _payin(driver: Driver, traffic: Traffic) -> None:
    status = traffic.payin()
    if status != "succeeded":
        driver.fail(f"a pay-in during the bad deploy ended {status}")


def _wait(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + RESTARTS_WAIT_S
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def _beating(driver: Driver, good: Node) -> Verdict:
    beat_at = good.beat_at()
    recovered_at = driver.timeline.recovered_at
    if beat_at is None or recovered_at is None:
        return Verdict("heartbeats", False, f"v1's {WORKER} never beat after the rollback")
    return Verdict("heartbeats", True, f"v1's {WORKER} beats since the rollback")
