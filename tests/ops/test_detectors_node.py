"""node_hang: a peer's node beat gone stale past the short node margin, or a stall the
node's own watch measured; neither from a slow worker nor from a database that holds
every beat back. And the default breaker threshold pages a channel kept out through a
failed half-open probe, never one healthy opening."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from paycore.channels.health import BreakerState, ChannelHealth, HealthSnapshot
from paycore.clock import ManualClock
from paycore.ops import detectors
from paycore.ops.heartbeat import Heartbeats
from paycore.ops.heartbeat_node import NodeHangs, NodeWatch
from paycore.ops.model import Severity, Signal, Thresholds

T = Thresholds()
NODE_ALLOWED_S = T.node_beat_every_s + T.node_beat_margin_s


def nodes(engine: Engine, clock: ManualClock, *names: str) -> list[NodeWatch]:
    return [NodeWatch(Heartbeats(engine, clock, node=n, thresholds=T), clock) for n in names]


def test_a_peer_whose_node_beat_is_older_than_the_node_margin_fires_node_hang(
    engine: Engine, clock: ManualClock
) -> None:
    me, peer = nodes(engine, clock, "n1", "n2")
    me.beat()
    peer.beat()
    stalled_at = clock.now()
    detector = NodeHangs(me.heartbeats, me)

    clock.advance(NODE_ALLOWED_S)
    me.beat()
    assert detector(clock.now()) == []
    clock.advance(1)
    me.beat()
    (fired,) = detector(clock.now())

    assert (fired.key, fired.kind, fired.since) == ("node_hang:n2", "node_hang", stalled_at)
    assert fired.severity is Severity.PAGE and "5 s" in fired.summary
    peer.beat()
    assert detector(clock.now()) == []


def test_a_database_that_holds_every_node_beat_back_is_not_taken_for_hung_nodes(
    engine: Engine, clock: ManualClock
) -> None:
    me, peer = nodes(engine, clock, "n1", "n2")
    me.beat()
    peer.beat()
    clock.advance(NODE_ALLOWED_S * 3)  # no beat reached the database since

    assert NodeHangs(me.heartbeats, me)(clock.now()) == []


def test_a_node_reports_its_own_stall_once_with_how_long_it_stood_still(
    engine: Engine, clock: ManualClock
) -> None:
    (me,) = nodes(engine, clock, "n1")
    me.beat()
    clock.advance(8.0)
    me.woke(slept_s=8.0)
    me.beat()
    detector = NodeHangs(me.heartbeats, me)

    (fired,) = detector(clock.now())

    assert (fired.key, fired.since) == ("node_hang:n1", clock.now() - timedelta(seconds=8))
    assert "stood still for 8.0 s" in fired.summary and fired.details["stalled_ms"] == 8000
    assert detector(clock.now()) == []


def test_a_slow_worker_iteration_is_no_node_hang_and_the_node_beat_no_hung_worker(
    engine: Engine, clock: ManualClock
) -> None:
    me, peer = nodes(engine, clock, "n1", "n2")
    peer.heartbeats.batched = True
    peer.heartbeats.beat("flows", 2.0)
    peer.beat()
    me.beat()
    node_hangs = NodeHangs(me.heartbeats, me)
    hung_workers = detectors.HungWorkers(me.heartbeats)
    worker_allowed_s = 2.0 + T.heartbeat_every_s + T.heartbeat_margin_s

    clock.advance(worker_allowed_s - 1)  # flows is in one long iteration; the node beats
    me.beat()
    peer.beat()
    assert node_hangs(clock.now()) == [] and hung_workers(clock.now()) == []
    clock.advance(worker_allowed_s + 1)  # the peer stopped: its node row is older than
    me.beat()  # a 1 s worker's allowance too, yet only flows is named a silent worker
    fired: list[Signal] = node_hangs(clock.now()) + hung_workers(clock.now())
    assert [(s.key, s.details.get("workers")) for s in fired] == [
        ("node_hang:n2", None),
        ("heartbeat:n2", "flows"),
    ]


def test_default_breaker_threshold_pages_a_failed_probe_but_not_one_healthy_opening(
    clock: ManualClock,
) -> None:
    def out_of_traffic_s(probe_ok: list[bool]) -> tuple[float, list[Signal]]:
        """Open the breaker by hung calls, then answer its probes in turn, ticking the
        detector every 0.25 s (the prober's pace) until the channel is back."""
        health = ChannelHealth("alpha", clock=clock)
        detector = detectors.BreakerOpen(lambda: [health.snapshot()], T)
        for _ in range(health.policy.hung_calls_min):
            health.start()
        clock.advance(health.policy.slow_call_s + 0.25)
        opened_at = health.snapshot().opened_at
        assert opened_at is not None
        fired: list[Signal] = []
        while health.snapshot().opened_at is not None or health.snapshot().state != "closed":
            clock.advance(0.25)
            if health.begin_probe():
                health.end_probe(ok=probe_ok.pop(0) if probe_ok else True)
            fired += detector(clock.now())
        return (clock.now() - opened_at).total_seconds(), fired

    healthy_s, healthy_fired = out_of_traffic_s([True, True])
    failed_once_s, failed_fired = out_of_traffic_s([False])

    assert healthy_s < T.breaker_open_s and healthy_fired == []
    assert failed_once_s > T.breaker_open_s and failed_fired
    assert {s.key for s in failed_fired} == {"breaker:alpha"}


def test_a_channel_out_past_the_threshold_between_two_ticks_fires_once_at_the_next(
    clock: ManualClock,
) -> None:
    opened_at = clock.now()
    current = [snapshot_out("alpha", opened_at)]
    detector = detectors.BreakerOpen(lambda: current, T)
    assert detector(clock.now()) == []  # a tick sees it just opened
    for _ in range(T.breaker_open_s + 2):  # the node watch looks every second
        clock.advance(1)
        detector.sample(clock.now())
    current = []
    clock.advance(1)
    detector.sample(clock.now())  # back in traffic before the next tick

    (fired,) = detector(clock.now())
    assert (fired.key, fired.since) == ("breaker:alpha", opened_at)
    assert detector(clock.now()) == []


def test_a_channel_already_paged_at_a_tick_is_not_paged_again_when_it_comes_back(
    clock: ManualClock,
) -> None:
    current = [snapshot_out("alpha", clock.now())]
    detector = detectors.BreakerOpen(lambda: current, T)
    clock.advance(T.breaker_open_s + 1)
    assert len(detector(clock.now())) == 1
    current = []
    detector.sample(clock.now())

    assert detector(clock.now()) == []


def snapshot_out(channel: str, opened_at: datetime) -> HealthSnapshot:
    return HealthSnapshot(
        channel=channel, state=BreakerState.OPEN, calls=10, failures=9, slow_calls=0,
        hung_calls=0, in_flight=0, success_rate=0.1, p50_s=None, p99_s=None,
        opened_at=opened_at, open_reason="hung_calls",
    )  # fmt: skip
