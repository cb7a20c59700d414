"""Collections from the tenant's wallet: pay, retry, give up, pause, resume, cancel, resume
after a crash, and every period once whoever runs it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from paycore.clock import ManualClock
from paycore.collection.model import LEASE_S, Attempt, PlanStatus
from paycore.errors import Rejected
from paycore.runtime import Runtime
from tests.collection.conftest import (
    balance,
    event_types,
    local,
    statuses,
    terms,
    top_up,
)
from tests.payments.http_conftest import Tenant

DUE_1 = local(2026, 2, 1)
DUE_2 = local(2026, 3, 1)
NET, FEE = 285_000, 15_000  # 300,000 less 5%


def test_a_wallet_collection_pays_the_landlord_and_the_merchant_its_fee_once(
    runtime: Runtime, agency: Tenant, engine: Engine
) -> None:
    plan = runtime.collection.create(agency.id, terms())
    top_up(runtime, agency.id, "tenant1", 300_000)
    merchant_before = balance(runtime, agency.id, None)

    early = runtime.collection.run_due(DUE_1 - timedelta(microseconds=1))
    first = runtime.collection.run_due(DUE_1)
    again = runtime.collection.run_due(DUE_1 + timedelta(hours=1))

    assert (early.started, first.started, again.started) == (0, 1, 0)
    assert balance(runtime, agency.id, "landlord1") == NET
    assert balance(runtime, agency.id, None) - merchant_before == FEE
    assert balance(runtime, agency.id, "tenant1") == 0
    assert statuses(runtime, plan) == ["paid", "upcoming", "upcoming"]
    assert event_types(engine, plan.id) == ["collection.plan_created", "collection.succeeded"]
    assert runtime.ledger.check().ok


def test_a_short_wallet_fails_then_pays_on_the_retry_a_day_later(
    runtime: Runtime, agency: Tenant, engine: Engine
) -> None:
    plan = runtime.collection.create(agency.id, terms())
    top_up(runtime, agency.id, "tenant1", 100_000)

    runtime.collection.run_due(DUE_1)
    [retrying, *_] = runtime.collection.schedule(plan)
    top_up(runtime, agency.id, "tenant1", 200_000)
    too_soon = runtime.collection.run_due(DUE_1 + timedelta(hours=23))
    retried = runtime.collection.run_due(DUE_1 + timedelta(days=1))
    [paid, *_] = runtime.collection.schedule(plan)

    assert retrying.status == "retrying" and retrying.next_attempt_at == DUE_1 + timedelta(days=1)
    assert [a.failure_code for a in retrying.attempts] == ["insufficient_balance"]
    assert (too_soon.retried, retried.retried) == (0, 1)
    assert paid.status == "paid"
    assert [(a.attempt_no, a.status) for a in paid.attempts] == [(1, "failed"), (2, "succeeded")]
    assert balance(runtime, agency.id, "landlord1") == NET
    assert event_types(engine, plan.id) == [
        "collection.plan_created",
        "collection.retry_scheduled",
        "collection.succeeded",
    ]


def test_a_period_fails_after_its_last_retry_and_the_next_month_still_falls_due(
    runtime: Runtime, agency: Tenant, engine: Engine
) -> None:
    plan = runtime.collection.create(agency.id, terms(max_attempts=3))

    for day in range(4):
        runtime.collection.run_due(DUE_1 + timedelta(days=day))
    [failed, upcoming, _] = runtime.collection.schedule(plan)
    top_up(runtime, agency.id, "tenant1", 300_000)
    runtime.collection.run_due(DUE_2)

    assert failed.status == "failed" and len(failed.attempts) == 3
    assert all(a.status == "failed" for a in failed.attempts)
    assert upcoming.status == "upcoming"
    assert statuses(runtime, plan)[:2] == ["failed", "paid"]
    assert event_types(engine, plan.id).count("collection.failed") == 1
    assert balance(runtime, agency.id, "landlord1") == NET


def test_a_paused_plan_skips_what_falls_due_and_collects_again_after_resume(
    runtime: Runtime, agency: Tenant, clock: ManualClock, engine: Engine
) -> None:
    plan = runtime.collection.create(agency.id, terms())
    top_up(runtime, agency.id, "tenant1", 600_000)

    paused = runtime.collection.pause(agency.id, plan.id)
    runtime.collection.run_due(DUE_1)
    clock.advance((DUE_1 - clock.now()).total_seconds() + 3600)
    shown_while_paused = statuses(runtime, plan)
    resumed = runtime.collection.resume(agency.id, plan.id)
    runtime.collection.run_due(DUE_2)

    assert paused.status is PlanStatus.PAUSED and resumed.status is PlanStatus.ACTIVE
    assert shown_while_paused == ["skipped", "upcoming", "upcoming"]
    assert statuses(runtime, plan) == ["skipped", "paid", "upcoming"]
    assert balance(runtime, agency.id, "landlord1") == NET
    assert "collection.plan_paused" in event_types(engine, plan.id)
    assert "collection.plan_resumed" in event_types(engine, plan.id)


def test_retries_wait_while_paused_and_stop_for_good_when_cancelled(
    runtime: Runtime, agency: Tenant
) -> None:
    plan = runtime.collection.create(agency.id, terms())
    runtime.collection.run_due(DUE_1)  # an empty wallet: retrying

    runtime.collection.pause(agency.id, plan.id)
    top_up(runtime, agency.id, "tenant1", 300_000)
    while_paused = runtime.collection.run_due(DUE_1 + timedelta(days=2))
    cancelled = runtime.collection.cancel(agency.id, plan.id)
    after_cancel = runtime.collection.run_due(DUE_2 + timedelta(days=40))

    assert while_paused.retried == 0
    assert cancelled.status is PlanStatus.CANCELLED
    assert (after_cancel.started, after_cancel.retried) == (0, 0)
    assert statuses(runtime, plan) == ["cancelled"]
    assert balance(runtime, agency.id, "landlord1") == 0
    for action in (runtime.collection.resume, runtime.collection.cancel):
        with pytest.raises(Rejected) as refused:
            action(agency.id, plan.id)
        assert refused.value.code == "plan_cancelled"


def test_a_plan_completes_after_its_last_period_and_runs_late_catch_up_once_each(
    runtime: Runtime, agency: Tenant, engine: Engine
) -> None:
    plan = runtime.collection.create(agency.id, terms(periods=2, due_day="last"))
    top_up(runtime, agency.id, "tenant1", 600_000)

    late = runtime.collection.run_due(local(2026, 5, 1))
    again = runtime.collection.run_due(local(2026, 6, 1))

    assert (late.started, again.started) == (2, 0)
    assert [line.due_date.isoformat() for line in runtime.collection.schedule(plan)] == [
        "2026-02-28",
        "2026-03-31",
    ]
    assert runtime.collection.get(agency.id, plan.id).status is PlanStatus.COMPLETED
    assert balance(runtime, agency.id, "landlord1") == 2 * NET
    assert event_types(engine, plan.id)[-1] == "collection.plan_completed"
    with pytest.raises(Rejected) as refused:
        runtime.collection.pause(agency.id, plan.id)
    assert refused.value.code == "plan_completed"


def test_an_attempt_left_open_by_a_crash_is_resumed_after_its_lease_and_pays_once(
    runtime: Runtime, agency: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = runtime.collection.create(agency.id, terms())
    top_up(runtime, agency.id, "tenant1", 300_000)
    collector = runtime.collection.collector
    real_finish = collector.finish

    def crash_after_the_money_moved(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("killed between the ledger and the attempt record")

    monkeypatch.setattr(collector, "finish", crash_after_the_money_moved)
    crashed = runtime.collection.run_due(DUE_1)
    left_open = statuses(runtime, plan)[0]
    monkeypatch.setattr(collector, "finish", real_finish)
    within_lease = runtime.collection.run_due(DUE_1 + timedelta(seconds=LEASE_S - 1))
    resumed = runtime.collection.run_due(DUE_1 + timedelta(seconds=LEASE_S))
    later = runtime.collection.run_due(DUE_1 + timedelta(seconds=3 * LEASE_S))

    assert crashed.errors and left_open == "collecting"
    assert (within_lease.resumed, resumed.resumed, later.resumed) == (0, 1, 0)
    [line, *_] = runtime.collection.schedule(plan)
    assert line.status == "paid" and [a.attempt_no for a in line.attempts] == [1]
    assert balance(runtime, agency.id, "landlord1") == NET
    assert balance(runtime, agency.id, "tenant1") == 0


def test_workers_racing_on_the_same_due_period_collect_it_once(
    runtime: Runtime, agency: Tenant
) -> None:
    plans = [
        runtime.collection.create(
            agency.id, terms(tenant=f"t{i}", landlord=f"l{i}", amount=200_000, fee_bps=None)
        )
        for i in range(4)
    ]
    for i in range(4):
        top_up(runtime, agency.id, f"t{i}", 200_000)
    started: list[int] = []
    barrier = threading.Barrier(3)

    def worker() -> None:
        barrier.wait()
        started.append(runtime.collection.run_due(DUE_1).started)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(started) == 4
    for i, plan in enumerate(plans):
        attempts: list[Attempt] = runtime.collection.schedule(plan)[0].attempts
        assert [a.status for a in attempts] == ["succeeded"]
        assert balance(runtime, agency.id, f"l{i}") == 200_000
    assert runtime.ledger.check().ok


def test_the_same_reference_answers_the_same_plan_and_other_terms_are_refused(
    runtime: Runtime, agency: Tenant
) -> None:
    first = runtime.collection.create(agency.id, terms(), reference="lease-42")
    again = runtime.collection.create(agency.id, terms(), reference="lease-42")

    with pytest.raises(Rejected) as refused:
        runtime.collection.create(agency.id, terms(amount=1), reference="lease-42")

    assert again.id == first.id
    assert refused.value.code == "plan_reference_reused"
    assert len(runtime.collection.list_plans(agency.id)) == 1
