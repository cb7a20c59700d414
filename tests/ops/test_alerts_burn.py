"""Burn-rate alerts over the SLI minutes and the orders: which window pairs fire, their
stored state, and the Signals the incidents slice receives."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from paycore.channels.model import FailureClass, Payer
from paycore.clock import ManualClock
from paycore.ops import store
from paycore.ops.alerts import SLI_RETENTION_DAYS, BurnRateAlerts
from paycore.ops.model import Severity, Signal, SignalSource
from paycore.ops.sli import SliRecorder, minute_of
from paycore.ops.slo import Counts
from paycore.payments.model import PROBE_MERCHANT_ID
from paycore.payments.service import PayinCommand
from paycore.runtime import Runtime
from tests.payments.fakes import ScriptedChannel, declined, succeeded
from tests.payments.http_conftest import one_scripted_bank, runtime_with_one_scripted_bank

alpha = one_scripted_bank
runtime = runtime_with_one_scripted_bank

PAIRS = ("1h/5m", "6h/30m", "1d/2h", "3d/6h")
PAYER = Payer(card_number="6228480402564890018", name="张三")


def put_minutes(
    engine: Engine, sli: str, *, end: datetime, minutes: int, good: int, total: int
) -> None:
    """`minutes` minutes of counts ending with the minute of `end`."""
    last = minute_of(end)
    rows = [
        {"sli": sli, "node": "n1", "minute_at": last - timedelta(minutes=i)}
        | {"good": good, "total": total}
        for i in range(minutes)
    ]
    with engine.begin() as conn:
        store.add_sli_minutes(conn, rows)


def keys(signals: list[Signal]) -> set[str]:
    return {s.key for s in signals}


def test_a_fast_burn_of_the_api_fires_every_pair_and_pages(
    engine: Engine, clock: ManualClock
) -> None:
    put_minutes(engine, "api_availability", end=clock.now(), minutes=70, good=90, total=100)
    signals = BurnRateAlerts(engine, clock).evaluate()
    assert keys(signals) == {f"burn:api_availability:{p}" for p in PAIRS}
    fast = next(s for s in signals if s.key.endswith("1h/5m"))
    assert fast.severity is Severity.PAGE and fast.source is SignalSource.ALERT
    assert fast.kind == "burn_rate" and fast.details["burn_rate_long_ppm"] == 1000 * 10**6


def test_a_burn_that_stopped_minutes_ago_no_longer_pages_on_the_fast_pair(
    engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()
    put_minutes(engine, "api_availability", end=now, minutes=10, good=100, total=100)
    put_minutes(
        engine, "api_availability", end=now - timedelta(minutes=10), minutes=50, good=90, total=100
    )
    firing = keys(BurnRateAlerts(engine, clock).evaluate())
    assert "burn:api_availability:1h/5m" not in firing
    assert "burn:api_availability:6h/30m" in firing


def test_a_burn_within_budget_fires_nothing(engine: Engine, clock: ManualClock) -> None:
    # 1 bad in 100,000 = 0.1 of a 99.99% budget
    put_minutes(engine, "api_availability", end=clock.now(), minutes=60, good=99_999, total=100_000)
    assert BurnRateAlerts(engine, clock).evaluate() == []


def test_an_alert_is_one_row_while_it_fires_and_ends_when_the_burn_stops(
    engine: Engine, clock: ManualClock
) -> None:
    alerts = BurnRateAlerts(engine, clock)
    put_minutes(engine, "latency:payments", end=clock.now(), minutes=10, good=50, total=100)
    started = clock.now()
    first = alerts.evaluate()
    clock.advance(60)
    again = BurnRateAlerts(engine, clock).evaluate()  # another process evaluating
    assert keys(first) == keys(again) == {f"burn:latency:payments:{p}" for p in PAIRS}
    assert {s.since for s in again} == {started}
    assert len(alerts.firing()) == 4
    clock.advance(7 * 3600)  # 7 h of good requests: every short window is clean
    put_minutes(engine, "latency:payments", end=clock.now(), minutes=7 * 60, good=100, total=100)
    assert alerts.evaluate() == []
    history = alerts.history()
    assert len(history) == 4 and alerts.firing() == []
    assert {r["ended_at"] for r in history} == {clock.now()}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.alerts)).scalar_one() == 4


def _pay_in(runtime: Runtime, merchant_id: str, n: int) -> None:
    runtime.payments.create_payin(
        PayinCommand(merchant_id, "rent", 10_000, "CNY", PAYER), idempotency_key=f"k{n}"
    )


def test_channel_failures_of_pay_ins_burn_that_channels_and_the_pay_in_budget(
    runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock
) -> None:
    merchant, _ = runtime.merchants.create(name="shop")
    alpha.then(succeeded(), *[declined("bank_down", FailureClass.CHANNEL)] * 3)
    for n in range(4):
        _pay_in(runtime, merchant.id, n)
    clock.advance(30)
    signals = BurnRateAlerts(runtime.engine, clock).evaluate()
    assert {"burn:success:payin:1h/5m", "burn:success:payin:alpha:1h/5m"} <= keys(signals)
    per_channel = next(s for s in signals if s.key == "burn:success:payin:alpha:1h/5m")
    assert (
        per_channel.channels == ("alpha",)
        and per_channel.kinds == ("payin",)
        and per_channel.products == ()
    )
    assert not any("payout" in s.key for s in signals)


def test_pay_ins_the_payer_declined_do_not_count_against_the_effective_rate(
    runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock
) -> None:
    merchant, _ = runtime.merchants.create(name="shop")
    alpha.then(succeeded(), *[declined("insufficient_funds", FailureClass.USER)] * 5)
    for n in range(6):
        _pay_in(runtime, merchant.id, n)
    clock.advance(30)
    alerts = BurnRateAlerts(runtime.engine, clock)
    assert alerts.evaluate() == []
    payin = next(s for s in alerts.status() if s.slo.name == "success:payin:alpha")
    assert (payin.counts[300].good, payin.counts[300].total) == (1, 1)


def test_the_probers_failed_pay_ins_burn_the_probe_budget_not_the_merchants_success_rate(
    runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock
) -> None:
    runtime.merchants.create(name="paycore prober", merchant_id=PROBE_MERCHANT_ID)
    alpha.then(*[declined("bank_down", FailureClass.CHANNEL)] * 3)
    for n in range(3):
        _pay_in(runtime, PROBE_MERCHANT_ID, n)
    clock.advance(30)
    alerts = BurnRateAlerts(runtime.engine, clock)
    assert not any(s.key.startswith("burn:success:") for s in alerts.evaluate())
    counted = {s.slo.name: s.counts[300].total for s in alerts.status()}
    assert counted.get("success:payin", 0) == counted.get("success:payin:alpha", 0) == 0


def test_recounting_the_orders_grows_the_counters_once(
    runtime: Runtime, alpha: ScriptedChannel, clock: ManualClock, recorder: SliRecorder
) -> None:
    merchant, _ = runtime.merchants.create(name="shop")
    alpha.then(succeeded(), declined("bank_down", FailureClass.CHANNEL))
    _pay_in(runtime, merchant.id, 1)
    _pay_in(runtime, merchant.id, 2)
    alerts = BurnRateAlerts(runtime.engine, clock, recorder=recorder)
    alerts.evaluate()
    clock.advance(30)
    alerts.evaluate()  # the same orders recounted: the minute rows are replaced, not added
    totals = {t.sli: (t.good, t.total) for t in recorder.totals()}
    assert totals == {"success:payin:alpha": (1, 2)}
    payin = next(s for s in alerts.status() if s.slo.name == "success:payin")
    assert (payin.counts[300].good, payin.counts[300].total) == (1, 2)


def test_long_windows_are_reread_once_a_minute_and_short_ones_every_time(
    engine: Engine, clock: ManualClock
) -> None:
    alerts = BurnRateAlerts(engine, clock)
    assert alerts.evaluate() == []
    put_minutes(engine, "api_availability", end=clock.now(), minutes=5, good=0, total=100)
    five_minutes = next(s for s in alerts.status() if s.slo.name == "api_availability")
    assert five_minutes.counts[300] == Counts(0, 500) and five_minutes.counts[3600] == Counts()
    clock.advance(60)
    assert keys(alerts.evaluate()) >= {"burn:api_availability:1h/5m"}


def test_sli_minutes_past_their_retention_are_deleted(engine: Engine, clock: ManualClock) -> None:
    old = clock.now() - timedelta(days=SLI_RETENTION_DAYS, minutes=1)
    put_minutes(engine, "api_availability", end=old, minutes=1, good=1, total=1)
    put_minutes(engine, "api_availability", end=clock.now(), minutes=1, good=1, total=1)
    BurnRateAlerts(engine, clock).evaluate()
    with engine.connect() as conn:
        kept = conn.execute(select(store.sli_minutes.c.minute_at)).scalars().all()
    assert kept == [minute_of(clock.now())]


def test_processes_evaluating_at_once_open_each_alert_once(
    engine: Engine, clock: ManualClock
) -> None:
    put_minutes(engine, "api_availability", end=clock.now(), minutes=10, good=0, total=10)
    evaluators = [BurnRateAlerts(engine, clock) for _ in range(4)]
    start = threading.Barrier(len(evaluators))
    errors: list[BaseException] = []

    def evaluate(alerts: BurnRateAlerts) -> None:
        try:
            start.wait(timeout=10)
            alerts.evaluate()
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=evaluate, args=(a,)) for a in evaluators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    opened = [(r["slo"], r["window"]) for r in evaluators[0].history()]
    assert sorted(opened) == sorted(("api_availability", p) for p in PAIRS)
