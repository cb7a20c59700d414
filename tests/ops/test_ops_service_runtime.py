"""The ops tick over a whole runtime: every detector wired to its service, the burn-rate
alerts included, and the incidents on /metrics."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest

from paycore.clock import ManualClock
from paycore.ops.heartbeat import Heartbeats
from paycore.ops.incidents_metrics import IncidentsCollector
from paycore.ops.model import Signal, Thresholds
from paycore.ops.service import Ops
from paycore.runtime import Runtime


class QuietAlerts:
    def evaluate(self, now: datetime | None = None) -> list[Signal]:
        return []


def test_a_hung_worker_of_a_runtime_opens_an_incident_shown_on_metrics(
    runtime: Runtime, clock: ManualClock
) -> None:
    beats = Heartbeats(runtime.engine, clock, node="api-1", thresholds=Thresholds())
    ops = Ops.for_runtime(runtime, alerts=QuietAlerts(), heartbeats=beats)
    beats.beat("payments-janitor", 5.0)
    assert ops.tick().opened == ()
    clock.advance(5 + Thresholds().heartbeat_every_s + Thresholds().heartbeat_margin_s + 1)

    (opened,) = ops.tick().opened

    assert ops.incidents.get(opened).key == "heartbeat:api-1"
    registry = CollectorRegistry()
    registry.register(IncidentsCollector(ops.incidents, clock))
    exposition = generate_latest(registry).decode()
    assert 'paycore_incidents_open{kind="heartbeat_missing",severity="page"} 1.0' in exposition
    assert "paycore_incident_last_opened_age_seconds" in exposition


def test_the_default_burn_rate_alerts_tick_quietly_on_an_idle_system(runtime: Runtime) -> None:
    ops = Ops.for_runtime(runtime)
    assert ops.alerts is not None
    assert ops.tick().opened == ()
