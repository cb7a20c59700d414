"""node-hang (夯机): the node stands still for HANG_S of the drill's clock (the seed: 3-10 s)
while bank alpha stalls every call, as the sandbox bank's `hang` fault does; run with the
deployment's thresholds (the documented defaults), nothing lowered for the drill.

The stall is the node watch's (heartbeat_node.py) seen from inside: the drill's clock is
the watch's monotonic clock, and while the node hangs neither the watch nor the node's
worker loop runs, as in a process under SIGSTOP or a GIL hog; when it runs again, its
sleep took HANG_S and it records the stall. Pay-ins keep coming, one per drill
second, each in its own thread (a hung one must not stop the traffic). The first few
reach alpha and hang; once HUNG_CALLS_MIN calls are overdue the breaker takes alpha out
of traffic and the rest fail over to beta. The hang ends: the stalled calls time out
(result unknown), probes bring alpha back, the janitor asks alpha about the unknown
pay-ins and settles them; the worker beats again.

Expected (drills.EXPECTATIONS, with the documented defaults):

- `node_hang:drill:<pid>`, grade B, detected HANG_S (8 s) after the fault: the node
  reports its own stall at the first tick after it. Its window (the stall and a tick)
  holds all traffic, and the pay-ins that reached alpha before its breaker opened were
  still without a result at its end: 4 of its 14 pay-ins, 29% (B: 20% or more).
- `breaker:alpha`, grade D, detected 11 s after the fault: alpha is out of traffic from
  +2 s (3 calls overdue by `slow_call_s`), its first half-open probe fails at +7 s, so it
  stays out past `breaker_open_s` (8 s); scoped to alpha, which gets no order while out.

No `heartbeat_missing`: the worker's own margin (its 1 s wait + 5 + 30 s) is generous on
purpose, since one slow iteration is not a hung node.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from paycore.clock import ManualClock
from paycore.ops.drill_faults import SteppedWorker
from paycore.ops.drill_sandbox import Sandbox
from paycore.ops.drill_traffic import Traffic
from paycore.ops.drills import Driver
from paycore.ops.heartbeat_node import NodeWatch
from paycore.payments.model import OrderStatus

HANG_S = 8
"""How long the node hangs, in drill seconds (within the seed's 3-10 s)."""
HUNG_CALLS_MIN = 3
"""Calls stalled at alpha before the drill's clock moves on (the breaker's hung_calls)."""
STALL_WAIT_S = 10.0
"""Real seconds to wait for the first calls to reach the hung bank."""
TRAFFIC_THREADS = 16
SETTLE_WITHIN_S = 400
"""Drill seconds for the janitor to settle the pay-ins whose answer the hang lost."""
WORKER = "drill-loop"
WORKER_INTERVAL_S = 1.0


class HungNode:
    """The drill's node: its node watch and a worker loop, stepped once per drill tick;
    while hung neither runs, and the watch's next sleep is measured across the hang."""

    def __init__(self, watch: NodeWatch, clock: ManualClock) -> None:
        self.watch = watch
        self.worker = SteppedWorker(watch.heartbeats, WORKER, interval_s=WORKER_INTERVAL_S)
        self._clock = clock
        self._woke_at = clock.now()
        self.hung = False

    @staticmethod
    def monotonic_of(clock: ManualClock) -> float:
        return clock.now().timestamp()

    def hang(self, hung: bool) -> None:
        self.hung = hung
        self.worker.hang(hung)

    def step(self) -> None:
        """One node-watch interval: the worker iterates, the watch wakes and beats."""
        if self.hung:
            return
        self.worker.iterate()
        now = self._clock.now()
        self.watch.woke(slept_s=(now - self._woke_at).total_seconds())
        self.watch.beat()
        self._woke_at = now


def run(driver: Driver, box: Sandbox, traffic: Traffic, worker: Callable[[bool], None]) -> None:
    """`worker(hung)` stops or lets run the drill's node (its watch and worker loop)."""
    futures: list[Future[str | None]] = []
    with ThreadPoolExecutor(TRAFFIC_THREADS, thread_name_prefix="drill-payin") as pool:
        try:
            _hang_and_heal(driver, box, traffic, worker, pool, futures)
        finally:
            box.alpha.release()  # no pay-in thread outlives the drill
            driver.beside_tick.clear()
    outcomes = [f.result() for f in futures]
    failed = [o for o in outcomes if o not in (OrderStatus.SUCCEEDED, OrderStatus.PROCESSING)]
    driver.timeline.facts.update(
        payins_sent=len(outcomes),
        payins_unknown=outcomes.count(OrderStatus.PROCESSING),
        payins_via_beta=sum(1 for n in box.beta.received.values() if n),
    )
    if failed:
        driver.fail(f"{len(failed)} pay-ins during the hang failed: {failed[:3]}")
    else:
        driver.note(f"{len(outcomes)} pay-ins, none failed: alpha was out of traffic")


def _hang_and_heal(
    driver: Driver,
    box: Sandbox,
    traffic: Traffic,
    worker: Callable[[bool], None],
    pool: ThreadPoolExecutor,
    futures: list[Future[str | None]],
) -> None:
    registry = box.runtime.channels.registry
    traffic.payins(3)  # the node is healthy before the fault
    driver.beside_tick.append(lambda: futures.append(pool.submit(traffic.payin)))
    driver.beside_tick.append(registry.run_due_probes)
    box.alpha.hang()
    worker(True)
    driver.fault(f"the node stands still and bank alpha hangs for {HANG_S} s")
    futures += traffic.payins_in_background(pool, HUNG_CALLS_MIN)
    _wait_for_stalls(box, HUNG_CALLS_MIN)
    release_at = box.clock.now().timestamp() + HANG_S
    driver.beside_tick.insert(0, lambda: _release_when_due(box, worker, release_at))
    driver.await_incidents()
    if box.alpha.hanging:
        driver.tick_until(lambda: not box.alpha.hanging, within_s=HANG_S)
    driver.recover("the hang ended: the node runs, calls time out, probes restore alpha")
    driver.beside_tick.append(box.runtime.janitor.sweep)
    driver.await_closed()
    driver.tick_until(lambda: _settled(traffic), within_s=SETTLE_WITHIN_S)


def _wait_for_stalls(box: Sandbox, count: int) -> None:
    deadline = time.monotonic() + STALL_WAIT_S
    while box.alpha.hung < count and time.monotonic() < deadline:
        time.sleep(0.01)


def _release_when_due(box: Sandbox, worker: Callable[[bool], None], release_at: float) -> None:
    if box.alpha.hanging and box.clock.now().timestamp() >= release_at:
        box.alpha.release()
        worker(False)


def _settled(traffic: Traffic) -> bool:
    final = (OrderStatus.SUCCEEDED, OrderStatus.FAILED, OrderStatus.CLOSED)
    return all(status in final for status in traffic.statuses().values())
