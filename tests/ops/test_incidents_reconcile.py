"""Incidents open on a signal, stay one per key while it fires, and close with their
duration, impact and automatic grade once the key has been quiet for the clear delay."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.ops.incidents import Incidents
from paycore.ops.model import Grade, IncidentStatus, OpsConfig, Signal, Thresholds
from paycore.platform.db import make_engine
from tests.ops.conftest_incidents import (  # noqa: F401
    CLEAR_AFTER_S,
    add_order,
    incidents_fixture,
    signal,
    thresholds_fixture,
)


def test_a_signal_with_no_open_incident_opens_one_with_an_opened_line(
    incidents: Incidents, clock: ManualClock
) -> None:
    since = clock.now() - timedelta(seconds=90)
    result = incidents.reconcile([signal(since=since)], clock.now())

    (opened,) = result.opened
    incident = incidents.get(opened)
    assert incident.status is IncidentStatus.OPEN
    assert incident.opened_at == since
    assert incident.grade is None and incident.awaiting_review
    assert [e.kind for e in incident.timeline] == ["opened"]


def test_a_key_that_keeps_firing_refreshes_its_incident_without_a_second_one(
    incidents: Incidents, clock: ManualClock
) -> None:
    first = incidents.reconcile([signal(since=clock.now())], clock.now()).opened[0]
    for _ in range(5):
        clock.advance(10)
        again = incidents.reconcile([signal(since=clock.now()), signal(since=clock.now())])
        assert again.opened == () and again.closed == ()

    page = incidents.list()
    assert [i.id for i in page.incidents] == [first]
    shown = incidents.get(first)
    assert shown.last_fired_at == clock.now()
    assert [e.kind for e in shown.timeline] == ["opened"]


def test_an_incident_closes_once_quiet_for_the_clear_delay_with_its_duration(
    incidents: Incidents, clock: ManualClock
) -> None:
    opened_at = clock.now()
    incident_id = incidents.reconcile([signal(since=opened_at)]).opened[0]
    clock.advance(300)
    incidents.reconcile([signal(since=opened_at)])
    clock.advance(10)
    quiet_from = clock.now()
    assert incidents.reconcile([]).closed == ()
    clock.advance(CLEAR_AFTER_S - 20)
    assert incidents.reconcile([]).closed == ()
    assert incidents.get(incident_id).status is IncidentStatus.OPEN
    clock.advance(20)

    assert incidents.reconcile([]).closed == (incident_id,)
    closed = incidents.get(incident_id)
    assert closed.status is IncidentStatus.RESOLVED
    assert closed.closed_at == quiet_from
    assert closed.duration_s == closed.impact.duration_s == 310
    assert [e.kind for e in closed.timeline] == ["opened", "closed", "graded"]


def test_a_key_longer_than_the_column_stays_one_incident_while_it_fires(
    incidents: Incidents, clock: ManualClock
) -> None:
    key = "worker_crash:" + "n" * 64 + ":" + "w" * 64
    incident_id = incidents.reconcile([signal(key, since=clock.now())]).opened[0]
    for _ in range(3):
        clock.advance(CLEAR_AFTER_S)
        again = incidents.reconcile([signal(key, since=clock.now())])
        assert again.opened == () and again.closed == ()
    assert incidents.get(incident_id).status is IncidentStatus.OPEN


def test_a_flapping_key_stays_one_incident(incidents: Incidents, clock: ManualClock) -> None:
    incident_id = incidents.reconcile([signal(since=clock.now())]).opened[0]
    for _ in range(6):
        clock.advance(CLEAR_AFTER_S // 2)
        assert incidents.reconcile([]).closed == ()
        clock.advance(CLEAR_AFTER_S // 2)
        assert incidents.reconcile([signal(since=clock.now())]).opened == ()

    assert [i.id for i in incidents.list().incidents] == [incident_id]
    assert incidents.get(incident_id).status is IncidentStatus.OPEN


def test_a_key_firing_after_its_incident_closed_opens_a_new_one(
    incidents: Incidents, clock: ManualClock
) -> None:
    first = incidents.reconcile([signal(since=clock.now())]).opened[0]
    clock.advance(1)
    incidents.reconcile([])
    clock.advance(CLEAR_AFTER_S)
    assert incidents.reconcile([]).closed == (first,)
    clock.advance(5)

    second = incidents.reconcile([signal(since=clock.now())]).opened
    assert len(second) == 1 and second[0] != first


def test_closing_measures_the_orders_in_the_window_on_the_incidents_channel(
    incidents: Incidents, clock: ManualClock, engine: Engine
) -> None:
    start = clock.now()
    before = start - timedelta(seconds=30)
    add_order(engine, created_at=before, status="failed", failure_class="channel")
    inside = [start + timedelta(seconds=s) for s in (10, 20, 30, 40)]
    add_order(engine, created_at=inside[0], status="failed", failure_class="channel",
              merchant_id="mch_a", amount=500)  # fmt: skip
    add_order(engine, created_at=inside[1], status="processing", finished_after_s=None,
              merchant_id="mch_b", amount=700, currency="USD")  # fmt: skip
    add_order(engine, created_at=inside[2], status="failed", failure_class="user")
    add_order(engine, created_at=inside[3], status="failed", failure_class="system",
              channel="beta")  # fmt: skip
    incident_id = incidents.reconcile([signal(since=start, channels=("alpha",))], start).opened[0]
    clock.advance(120)
    incidents.reconcile([])
    clock.advance(CLEAR_AFTER_S)
    incidents.reconcile([])

    impact = incidents.get(incident_id).impact
    assert (impact.orders, impact.merchants) == (2, 2)
    assert impact.amount_minor == {"CNY": 500, "USD": 700}
    assert impact.traffic_share_ppm == 2 * 1_000_000 // 4
    assert impact.channels == ("alpha",) and impact.products == ("qr",)
    assert impact.duration_s == 120


def test_the_automatic_grade_follows_the_configured_rules(
    engine: Engine, clock: ManualClock
) -> None:
    strict = Incidents(
        engine,
        clock,
        config=OpsConfig(thresholds=Thresholds(clear_after_s=10), grade_rules=()),
    )
    start = clock.now()
    long_one = strict.reconcile([signal(since=start)]).opened[0]
    clock.advance(5 * 3600)
    strict.reconcile([])
    clock.advance(10)
    strict.reconcile([])
    assert strict.get(long_one).auto_grade is Grade.D  # no rules: nothing is more than D

    default = Incidents(engine, clock, config=OpsConfig(thresholds=Thresholds(clear_after_s=10)))
    again = default.reconcile([signal(since=clock.now())]).opened[0]
    clock.advance(5 * 3600)
    default.reconcile([])
    clock.advance(10)
    default.reconcile([])
    assert default.get(again).auto_grade is Grade.A  # 4 h or more


def test_a_held_prefix_neither_fires_nor_clears_its_incidents(
    incidents: Incidents, clock: ManualClock
) -> None:
    incident_id = incidents.reconcile([signal(since=clock.now())]).opened[0]
    for _ in range(3):
        clock.advance(CLEAR_AFTER_S)
        assert incidents.reconcile([], held=["breaker:"]).closed == ()
    assert incidents.get(incident_id).status is IncidentStatus.OPEN
    clock.advance(1)

    # Known again and quiet: it ends here, not while its detector could not tell.
    assert incidents.reconcile([]).closed == (incident_id,)
    assert incidents.get(incident_id).closed_at == clock.now()


def tick_at_once(services: list[Incidents], fired: list[Signal]) -> list[str]:
    """Each service reconciles the same signals in its own thread, released together."""
    barrier = threading.Barrier(len(services))
    opened: list[str] = []
    errors: list[BaseException] = []

    def tick(service: Incidents) -> None:
        try:
            barrier.wait(timeout=10)
            opened.extend(service.reconcile(fired).opened)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return opened


def test_two_processes_ticking_at_once_open_one_incident_per_key(
    database_url: str, clock: ManualClock
) -> None:
    engines = [make_engine(database_url, pool_size=2) for _ in range(2)]
    services = [Incidents(e, clock) for e in engines]
    keys = [f"breaker:ch{i}" for i in range(4)]
    try:
        for round_ in range(3):
            clock.advance(1)
            opened = tick_at_once(services, [signal(k, since=clock.now()) for k in keys])
            assert len(opened) == (len(keys) if round_ == 0 else 0)
        listed = services[0].list().incidents
        assert sorted(i.key for i in listed) == keys
    finally:
        for engine in engines:
            engine.dispose()
