"""The ops tick turns alerts and detectors into incidents; a source that fails holds its
incidents as they are; the worker loop survives a failed tick."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.ops.incidents import Incidents
from paycore.ops.model import IncidentStatus, Signal, SignalSource
from paycore.ops.service import Ops
from tests.ops.conftest_incidents import (  # noqa: F401
    CLEAR_AFTER_S,
    incidents_fixture,
    signal,
    thresholds_fixture,
)


class FakeAlerts:
    def __init__(self) -> None:
        self.firing: list[Signal] = []
        self.broken = False

    def evaluate(self, now: datetime | None = None) -> list[Signal]:
        if self.broken:
            raise RuntimeError("sli tables unreadable")
        return list(self.firing)


class FakeDetector:
    prefix = "breaker:"

    def __init__(self) -> None:
        self.firing: list[Signal] = []
        self.broken = False

    def __call__(self, now: datetime) -> list[Signal]:
        if self.broken:
            raise RuntimeError("registry gone")
        return list(self.firing)


@pytest.fixture
def parts(
    engine: Engine, clock: ManualClock, incidents: Incidents
) -> tuple[Ops, FakeAlerts, FakeDetector]:
    alerts, detector = FakeAlerts(), FakeDetector()
    ops = Ops(engine, clock, incidents=incidents, detectors=[detector], alerts=alerts)
    return ops, alerts, detector


def burn(clock: ManualClock) -> Signal:
    return Signal(key="burn:payin_success:1h", source=SignalSource.ALERT, kind="burn_rate",
                  severity=signal(since=clock.now()).severity, summary="pay-in burning",
                  since=clock.now(), products=("payin",))  # fmt: skip


def test_a_tick_opens_incidents_from_alerts_and_detectors_alike(
    parts: tuple[Ops, FakeAlerts, FakeDetector], clock: ManualClock
) -> None:
    ops, alerts, detector = parts
    alerts.firing = [burn(clock)]
    detector.firing = [signal(since=clock.now())]

    result = ops.tick()

    assert len(result.opened) == 2
    kinds = sorted(i.kind for i in ops.incidents.list().incidents)
    assert kinds == ["breaker_open", "burn_rate"]


def test_a_failing_source_holds_its_incidents_and_others_still_close(
    parts: tuple[Ops, FakeAlerts, FakeDetector], clock: ManualClock
) -> None:
    ops, alerts, detector = parts
    alerts.firing = [burn(clock)]
    detector.firing = [signal(since=clock.now())]
    ops.tick()
    alerts.firing, detector.firing = [], []
    detector.broken = True
    for _ in range(3):
        clock.advance(CLEAR_AFTER_S)
        ops.tick()

    by_kind = {i.kind: i.status for i in ops.incidents.list().incidents}
    assert by_kind == {"breaker_open": IncidentStatus.OPEN, "burn_rate": IncidentStatus.RESOLVED}


def test_failing_alerts_hold_the_burn_incidents(
    parts: tuple[Ops, FakeAlerts, FakeDetector], clock: ManualClock
) -> None:
    ops, alerts, _ = parts
    alerts.firing = [burn(clock)]
    ops.tick()
    alerts.broken = True
    clock.advance(CLEAR_AFTER_S * 3)
    assert ops.tick().closed == ()


def test_the_worker_loop_survives_a_failed_tick_and_stops_when_told(
    parts: tuple[Ops, FakeAlerts, FakeDetector], clock: ManualClock
) -> None:
    ops, alerts, _ = parts
    ticks: list[int] = []
    stop = threading.Event()
    real_tick = ops.tick

    def flaky_tick(now: datetime | None = None) -> object:
        ticks.append(1)
        if len(ticks) == 1:
            raise RuntimeError("database restarting")
        if len(ticks) == 3:
            stop.set()
        return real_tick(now)

    ops.tick = flaky_tick  # type: ignore[method-assign]
    alerts.firing = [burn(clock)]
    ops.run_worker(stop, interval_s=0.001)

    assert len(ticks) == 3
    assert len(ops.incidents.list().incidents) == 1
