"""The sliding window and circuit breaker of one channel, on a clock the test moves."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paycore.channels.health import BreakerPolicy, BreakerState, ChannelHealth
from paycore.clock import ManualClock
from paycore.errors import Rejected

POLICY = BreakerPolicy(
    window_s=5.0,
    buckets=10,
    min_calls=10,
    failure_rate_max=0.5,
    slow_call_s=1.0,
    slow_rate_max=0.5,
    hung_calls_min=3,
    open_s=5.0,
    probe_interval_s=1.0,
    probe_successes_min=2,
)


def health_with(policy: BreakerPolicy = POLICY) -> tuple[ChannelHealth, ManualClock]:
    clock = ManualClock()
    return ChannelHealth("bank", policy=policy, clock=clock), clock


def record(health: ChannelHealth, clock: ManualClock, *, ok: bool, latency_s: float = 0.01) -> None:
    token = health.start()
    clock.advance(latency_s)
    health.finish(token, ok=ok)


def open_breaker(health: ChannelHealth, clock: ManualClock) -> None:
    for _ in range(POLICY.min_calls):
        record(health, clock, ok=False)
    assert health.state is BreakerState.OPEN


def test_breaker_opens_when_the_failure_rate_reaches_its_maximum() -> None:
    health, clock = health_with()
    for _ in range(5):
        record(health, clock, ok=True)
    for _ in range(4):
        record(health, clock, ok=False)
    assert health.allows_traffic()
    record(health, clock, ok=False)  # 5 of 10
    assert not health.allows_traffic()
    snapshot = health.snapshot()
    assert (snapshot.state, snapshot.open_reason) == (BreakerState.OPEN, "failure_rate")
    assert snapshot.opened_at == clock.now()


def test_breaker_stays_closed_while_the_window_holds_fewer_than_min_calls() -> None:
    health, clock = health_with()
    for _ in range(POLICY.min_calls - 1):
        record(health, clock, ok=False)
    assert health.state is BreakerState.CLOSED


def test_outcomes_older_than_the_window_no_longer_count() -> None:
    health, clock = health_with()
    for _ in range(9):
        record(health, clock, ok=False)
    clock.advance(POLICY.window_s)
    record(health, clock, ok=False)
    for _ in range(9):
        record(health, clock, ok=True)
    snapshot = health.snapshot()
    assert (snapshot.state, snapshot.calls, snapshot.failures) == (BreakerState.CLOSED, 10, 1)


def test_a_channel_that_starts_hanging_is_opened_within_slow_call_s_before_calls_time_out() -> None:
    health, clock = health_with()
    for _ in range(200):  # a window full of good calls
        record(health, clock, ok=True, latency_s=0.005)
    hanging = [health.start() for _ in range(POLICY.hung_calls_min)]
    waited_s = 0.0
    while health.allows_traffic():
        assert waited_s < POLICY.slow_call_s + 0.1, "still in traffic well after slow_call_s"
        clock.advance(0.05)
        waited_s += 0.05
    assert waited_s > POLICY.slow_call_s
    snapshot = health.snapshot()
    assert (snapshot.open_reason, snapshot.hung_calls, snapshot.in_flight) == ("hung_calls", 3, 3)
    for token in hanging:
        health.finish(token, ok=False)
    assert health.snapshot().in_flight == 0


def test_hanging_calls_do_not_open_the_breaker_while_other_calls_come_back_fast() -> None:
    health, clock = health_with()
    stuck = [health.start() for _ in range(POLICY.hung_calls_min)]
    for _ in range(30):  # 3 hung against 30 good calls over 1.5 s: a slow rate of 9%
        record(health, clock, ok=True, latency_s=0.05)
    assert health.snapshot().hung_calls == 3
    assert health.state is BreakerState.CLOSED
    for token in stuck:
        health.finish(token, ok=True)


def test_slow_calls_open_the_breaker_on_the_slow_rate() -> None:
    health, clock = health_with(BreakerPolicy(hung_calls_min=1000))
    slow = [health.start() for _ in range(9)]
    clock.advance(1.5)
    for token in slow:
        health.finish(token, ok=True)
    assert health.allows_traffic()  # 9 calls: fewer than min_calls
    record(health, clock, ok=True)
    assert health.snapshot().open_reason == "slow_rate"


def test_calls_in_flight_past_slow_call_s_count_as_slow() -> None:
    health, clock = health_with(BreakerPolicy(hung_calls_min=1000))
    for _ in range(20):
        record(health, clock, ok=True)
    stuck = [health.start() for _ in range(20)]
    clock.advance(POLICY.slow_call_s)
    assert health.allows_traffic()
    clock.advance(0.01)
    assert health.snapshot().open_reason == "slow_rate"
    for token in stuck:
        health.finish(token, ok=False)


def test_open_breaker_half_opens_after_open_s_and_closes_after_consecutive_good_probes() -> None:
    health, clock = health_with()
    open_breaker(health, clock)
    assert not health.probe_due()
    clock.advance(POLICY.open_s)
    assert health.state is BreakerState.HALF_OPEN
    assert not health.allows_traffic()  # half-open carries probes, not payments
    assert health.begin_probe()
    health.end_probe(ok=True)
    assert health.state is BreakerState.HALF_OPEN
    assert not health.begin_probe()  # the next probe waits probe_interval_s
    clock.advance(POLICY.probe_interval_s)
    assert health.begin_probe()
    health.end_probe(ok=True)
    snapshot = health.snapshot()
    assert (snapshot.state, snapshot.calls, snapshot.open_reason) == (BreakerState.CLOSED, 0, None)


def test_a_failed_probe_opens_the_breaker_again_for_open_s() -> None:
    health, clock = health_with()
    open_breaker(health, clock)
    clock.advance(POLICY.open_s)
    assert health.begin_probe()
    health.end_probe(ok=False)
    assert health.snapshot().open_reason == "probe_failed"
    clock.advance(POLICY.open_s - 0.1)
    assert health.state is BreakerState.OPEN
    clock.advance(0.1)
    assert health.probe_due()


def test_only_one_probe_runs_at_a_time() -> None:
    health, clock = health_with()
    health.force_open()
    clock.advance(POLICY.open_s)
    assert health.begin_probe()
    clock.advance(10 * POLICY.probe_interval_s)
    assert not health.probe_due()
    assert not health.begin_probe()


def test_calls_in_flight_when_the_breaker_closes_do_not_count_afterwards() -> None:
    health, clock = health_with(BreakerPolicy(probe_successes_min=1))
    stuck = [health.start() for _ in range(20)]
    clock.advance(2.0)
    assert health.snapshot().open_reason == "hung_calls"
    clock.advance(POLICY.open_s)
    assert health.begin_probe()
    health.end_probe(ok=True)
    assert health.allows_traffic()  # the 20 old hung calls no longer keep it open
    for token in stuck:
        health.finish(token, ok=False)
    snapshot = health.snapshot()
    assert (snapshot.state, snapshot.calls, snapshot.in_flight) == (BreakerState.CLOSED, 0, 0)


def test_finishing_a_call_twice_counts_it_once() -> None:
    health, _ = health_with()
    token = health.start()
    health.finish(token, ok=True)
    health.finish(token, ok=False)
    snapshot = health.snapshot()
    assert (snapshot.calls, snapshot.failures, snapshot.in_flight) == (1, 0, 0)


def test_track_counts_an_exception_as_a_failure() -> None:
    health, _ = health_with()
    with health.track():
        pass
    with pytest.raises(RuntimeError), health.track():
        raise RuntimeError("boom")
    snapshot = health.snapshot()
    assert (snapshot.calls, snapshot.failures, snapshot.success_rate) == (2, 1, 0.5)


def test_snapshot_of_an_idle_channel_has_no_rates() -> None:
    health, _ = health_with()
    snapshot = health.snapshot()
    assert (snapshot.calls, snapshot.success_rate, snapshot.p50_s, snapshot.p99_s) == (
        0,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"window_s": 0},
        {"min_calls": 0},
        {"failure_rate_max": 1.5},
        {"slow_rate_max": 0},
        {"open_s": -1},
    ],
)
def test_a_policy_out_of_range_is_refused(changes: dict[str, float]) -> None:
    with pytest.raises(Rejected) as refused:
        BreakerPolicy(**changes)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_channel_config"


@given(latencies=st.lists(st.floats(min_value=0.0, max_value=30.0), min_size=1, max_size=200))
def test_latency_percentiles_are_at_most_one_bin_above_the_true_value(
    latencies: list[float],
) -> None:
    health, clock = health_with(BreakerPolicy(window_s=1e6, min_calls=10**6, hung_calls_min=10**6))
    for latency_s in latencies:
        record(health, clock, ok=True, latency_s=latency_s)
    snapshot = health.snapshot()
    ordered = sorted(latencies)
    for q, reported in ((0.5, snapshot.p50_s), (0.99, snapshot.p99_s)):
        true = ordered[max(math.ceil(q * len(ordered)), 1) - 1]
        assert reported is not None
        assert true - 1e-3 <= reported <= max(true * 2**0.25, 0.001) + 1e-3


@given(outcomes=st.lists(st.booleans(), max_size=60))
def test_breaker_opens_exactly_when_the_reference_rule_says_so(outcomes: list[bool]) -> None:
    health, clock = health_with()
    calls = failures = 0
    expected_open = False
    for ok in outcomes:
        record(health, clock, ok=ok, latency_s=0.001)
        if not expected_open:
            calls += 1
            failures += not ok
            expected_open = calls >= 10 and failures / calls >= 0.5
        assert health.allows_traffic() is not expected_open


def test_many_threads_share_one_health_without_losing_a_call() -> None:
    health, _ = health_with(BreakerPolicy(failure_rate_max=1.0, slow_rate_max=1.0))
    threads_count, calls_each = 16, 500
    barrier = threading.Barrier(threads_count)

    def work() -> None:
        barrier.wait()
        for i in range(calls_each):
            token = health.start()
            health.allows_traffic()
            health.finish(token, ok=i % 4 != 0)
            if i % 50 == 0:
                health.snapshot()

    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = health.snapshot()
    total = threads_count * calls_each
    assert (snapshot.calls, snapshot.failures, snapshot.in_flight) == (total, total // 4, 0)
    assert snapshot.state is BreakerState.CLOSED
