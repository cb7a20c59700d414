"""Each detector fires on its condition past its threshold, and only then."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from paycore.bills.admission import Admission, Limits
from paycore.channels.health import BreakerState, HealthSnapshot
from paycore.clock import ManualClock
from paycore.finance.backlog import FinanceBacklog
from paycore.notifications.service import DeliveryStats
from paycore.ops import detectors
from paycore.ops.heartbeat import Heartbeats
from paycore.ops.model import Severity, Thresholds
from tests.ops.conftest_incidents import add_order

T = Thresholds()


def snapshot(channel: str, state: BreakerState, opened_at: datetime | None) -> HealthSnapshot:
    return HealthSnapshot(
        channel=channel, state=state, calls=10, failures=9, slow_calls=0, hung_calls=0,
        in_flight=0, success_rate=0.1, p50_s=None, p99_s=None, opened_at=opened_at,
        open_reason=None if opened_at is None else "failure_rate",
    )  # fmt: skip


def test_a_breaker_open_longer_than_its_threshold_fires_once_per_channel(
    clock: ManualClock,
) -> None:
    now = clock.now()
    long_ago = now - timedelta(seconds=T.breaker_open_s + 1)
    just_now = now - timedelta(seconds=T.breaker_open_s - 1)
    snaps = [
        snapshot("alpha", BreakerState.OPEN, long_ago),
        snapshot("beta", BreakerState.HALF_OPEN, long_ago),
        snapshot("gamma", BreakerState.OPEN, just_now),
        snapshot("delta", BreakerState.CLOSED, None),
    ]
    fired = detectors.BreakerOpen(lambda: snaps, T)(now)

    assert [(s.key, s.channels, s.since) for s in fired] == [
        ("breaker:alpha", ("alpha",), long_ago),
        ("breaker:beta", ("beta",), long_ago),
    ]
    assert all(s.kind == "breaker_open" and s.severity is Severity.PAGE for s in fired)


def test_a_breaker_whose_failed_probes_reopen_it_counts_from_when_it_first_left_traffic(
    clock: ManualClock,
) -> None:
    first_open = clock.now()
    current = [snapshot("alpha", BreakerState.OPEN, first_open)]
    detector = detectors.BreakerOpen(lambda: current, T)
    assert detector(clock.now()) == []
    # Each failed half-open probe opens the breaker again, with a new opened_at.
    while clock.now() - first_open <= timedelta(seconds=T.breaker_open_s):
        clock.advance(5)
        current = [snapshot("alpha", BreakerState.OPEN, clock.now() - timedelta(seconds=1))]
        fired = detector(clock.now())

    assert [(s.key, s.since) for s in fired] == [("breaker:alpha", first_open)]
    current = [snapshot("alpha", BreakerState.CLOSED, None)]
    assert detector(clock.now()) == []
    current = [snapshot("alpha", BreakerState.OPEN, clock.now())]
    assert detector(clock.now()) == []  # back in traffic in between: counted afresh


def test_orders_unresolved_past_their_age_fire_with_their_products_and_channels(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    old = now - timedelta(seconds=T.unresolved_age_s + 5)
    add_order(engine, created_at=old, status="processing", finished_after_s=None, channel="alpha")
    add_order(engine, created_at=old - timedelta(seconds=5), status="created",
              finished_after_s=None, channel=None, product="card")  # fmt: skip
    add_order(engine, created_at=old, status="succeeded")
    add_order(engine, created_at=now - timedelta(seconds=10), status="processing",
              finished_after_s=None)  # fmt: skip
    detector = detectors.UnresolvedOrders(engine, T)

    (fired,) = detector(now)

    assert fired.key == "unresolved_orders" and fired.details["orders"] == 2
    assert fired.since == old - timedelta(seconds=5)
    assert (fired.products, fired.channels) == (("card", "qr"), ("alpha",))
    assert detector(old) == []


def test_the_webhook_backlog_fires_on_too_many_pending_or_too_old(clock: ManualClock) -> None:
    now = clock.now()

    def fired(pending: int, age_s: float) -> list[str]:
        stats = DeliveryStats(pending=pending, oldest_pending_age_s=age_s, failed=0, skipped=0)
        return [s.key for s in detectors.WebhookBacklog(lambda: stats, T)(now)]

    assert fired(T.webhook_pending_max, T.webhook_oldest_age_s) == []
    assert fired(T.webhook_pending_max + 1, 1) == ["webhook_backlog"]
    assert fired(1, T.webhook_oldest_age_s + 1) == ["webhook_backlog"]


def test_the_bills_pool_fires_on_rising_refusals_waits_or_a_full_pool(clock: ManualClock) -> None:
    readings: list[detectors.BillsReading] = []
    detector = detectors.BillsPool(lambda: readings[-1], T)

    def tick(refused: int, waits: int, in_use: int) -> bool:
        readings.append(detectors.BillsReading(refused, waits, in_use, size=4))
        clock.advance(10)
        return bool(detector(clock.now()))

    assert not tick(500, 7, 0)  # the first reading is only a base
    assert not tick(500 + T.bills_refused_min - 1, 7, 3)
    assert tick(500 + 2 * T.bills_refused_min, 7, 0)
    assert not tick(500 + 2 * T.bills_refused_min, 7, 0)
    assert tick(500 + 2 * T.bills_refused_min, 7 + T.bills_pool_waits_min, 0)
    full = [tick(540, 8, 4) for _ in range(T.bills_full_ticks_min)]
    assert full == [False] * (T.bills_full_ticks_min - 1) + [True]


def test_bills_reading_counts_every_refusal_code(engine: Engine) -> None:
    admission = Admission(Limits(running_max=1, running_per_merchant_max=1, rate_per_s=1.0,
                                 burst=1, time_share=None))  # fmt: skip
    admission.refused_total["bills_busy"] = 3
    admission.refused_total["bills_query_timeout"] = 2

    reading = detectors.bills_reading(admission, engine)

    assert reading.refused_total == 5


def test_silent_workers_fire_as_one_hung_node_and_a_forgotten_node_does_not(
    engine: Engine, clock: ManualClock
) -> None:
    hb = Heartbeats(engine, clock, node="n1:1", thresholds=T)
    hb.beat("payments-janitor", 5.0)
    hb.beat("flows", 2.0)
    hb.beat("ledger-check", 60.0)
    other = Heartbeats(engine, clock, node="n2:1", thresholds=T)
    detector = detectors.HungWorkers(hb)

    clock.advance(2 + T.heartbeat_every_s + T.heartbeat_margin_s)
    other.beat("flows", 2.0)
    assert detector(clock.now()) == []
    clock.advance(4)
    (fired,) = detector(clock.now())
    assert fired.key == "heartbeat:n1:1" and fired.kind == "heartbeat_missing"
    assert set(str(fired.details["workers"]).split(", ")) == {"payments-janitor", "flows"}

    clock.advance(T.heartbeat_forget_s)
    assert detector(clock.now()) == []


def test_a_worker_restarted_again_and_again_fires_as_a_crash_loop_until_it_stays_up(
    engine: Engine, clock: ManualClock
) -> None:
    hb = Heartbeats(engine, clock, node="n1:1", thresholds=T)
    detector = detectors.CrashLoops(hb)
    hb.started("flows", restarts=T.crash_restarts_min - 1, error="ValueError: boom")
    assert detector(clock.now()) == []
    hb.started("flows", restarts=T.crash_restarts_min, error="ValueError: boom")

    (fired,) = detector(clock.now())
    assert fired.key == "worker_crash:n1:1:flows" and "ValueError: boom" in fired.summary
    clock.advance(T.crash_window_s + 1)
    assert detector(clock.now()) == []


def _backlog(**changes: Any) -> FinanceBacklog:
    quiet = FinanceBacklog(
        finished_days_not_derived=0, oldest_underived_day=None, oldest_underived_age_s=0.0,
        vouchers_pending=0, oldest_pending_age_s=0.0, vouchers_rejected=0, days_with_breaks=0,
        oldest_break_day=None, days_receiver_unavailable=0, oldest_unavailable_day=None,
        derive_error="",
    )  # fmt: skip
    return replace(quiet, **changes)


def test_vouchers_left_unpushed_past_their_age_fire_the_finance_push(clock: ManualClock) -> None:
    now, age_s = clock.now(), T.finance_push_age_s
    young = _backlog(vouchers_pending=2, oldest_pending_age_s=age_s - 1)
    assert detectors.FinancePush(lambda _now: young, T)(now) == []

    old = _backlog(vouchers_pending=2, oldest_pending_age_s=age_s + 1)
    (fired,) = detectors.FinancePush(lambda _now: old, T)(now)

    assert fired.key == "finance_push" and fired.kind == "finance_push_behind"
    assert fired.since == now - timedelta(seconds=age_s + 1)
    assert "vouchers not pushed: 2" in fired.summary


@pytest.mark.parametrize(
    "behind",
    [
        {"finished_days_not_derived": 1, "oldest_underived_day": date(2026, 1, 1),
         "oldest_underived_age_s": T.finance_push_age_s + 1,
         "derive_error": "finance_code_unmapped: 4002"},
        {"vouchers_rejected": 1},
        {"days_with_breaks": 1, "oldest_break_day": date(2026, 1, 1)},
        {"days_receiver_unavailable": 1, "oldest_unavailable_day": date(2026, 1, 1)},
    ],
)  # fmt: skip
def test_days_not_derived_refused_vouchers_and_unreconciled_days_fire_the_finance_push_too(
    clock: ManualClock, behind: dict[str, Any]
) -> None:
    (fired,) = detectors.FinancePush(lambda _now: _backlog(**behind), T)(clock.now())

    assert fired.kind == "finance_push_behind" and fired.since <= clock.now()
