"""The four drills, each run whole on the test database: the expected incident opens within
its limit, closes after the recovery with the expected grade, and afterwards the ledger,
the flows and the finance day pass checks made here, independently of the drill's own."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from paycore.bills.model import bill_day_of
from paycore.clock import ManualClock
from paycore.consistency.service import FlowCheck
from paycore.finance.service import Finance
from paycore.ledger.service import Ledger
from paycore.ops.drill_hang import HANG_S
from paycore.ops.drills import DrillName, Timeline
from paycore.ops.incidents import Incidents
from paycore.ops.model import IncidentStatus
from tests.ops.conftest_drills import DRILL_START, RunDrill, drill_clock_fixture, run_fixture

__all__ = ["drill_clock_fixture", "run_fixture"]

AFTER_CHECKS = {"ledger", "flows", "finance", "banks"}


def assert_caught_and_closed(timeline: Timeline, engine: Engine, clock: ManualClock) -> None:
    incidents = Incidents(engine, clock)
    assert timeline.caught
    for caught in timeline.caught:
        expected = caught.expected
        assert caught.incident_id is not None, timeline.failures
        incident = incidents.get(caught.incident_id)
        assert incident.kind == expected.kind
        assert incident.status is IncidentStatus.RESOLVED
        assert incident.auto_grade is expected.grade
        detected_after_s = timeline.detected_after_s(caught)
        assert detected_after_s is not None
        assert 0 <= detected_after_s <= expected.detect_within_s
        assert incident.closed_at is not None and timeline.recovered_at is not None


def assert_nothing_lost(timeline: Timeline, engine: Engine, clock: ManualClock) -> None:
    checks = {v.check: v for v in timeline.verdicts}
    assert checks.keys() >= AFTER_CHECKS
    assert all(v.ok for v in checks.values()), [v for v in checks.values() if not v.ok]
    ledger = Ledger(engine, clock=clock)
    try:
        assert ledger.check().ok
    finally:
        ledger.close()
    assert FlowCheck(engine, clock).run().ok
    day: date = bill_day_of(DRILL_START)
    reconciled = Finance(engine, clock).reconciliation(day)
    assert reconciled.ok and reconciled.receiver_checked
    assert not [b for b in reconciled.breaks if "missing" in str(b)]


def run_and_judge(run: RunDrill, name: DrillName, engine: Engine, clock: ManualClock) -> Timeline:
    """Run the drill; it passed, caught and closed its incidents, and lost nothing."""
    timeline = run(name)
    assert timeline.ok, timeline.failures
    assert timeline.fault_at is not None and timeline.recovered_at is not None
    assert_caught_and_closed(timeline, engine, clock)
    assert_nothing_lost(timeline, engine, clock)
    return timeline


def test_a_month_end_storm_is_refused_with_429_while_pay_ins_succeed_and_is_caught(
    run: RunDrill, engine: Engine, drill_clock: ManualClock
) -> None:
    timeline = run_and_judge(run, DrillName.MONTH_END_STORM, engine, drill_clock)

    facts = timeline.facts
    assert facts["bills_refused"] > 0 and facts["bills_ok"] > 0
    assert facts["bills_ok"] + facts["bills_refused"] == facts["bills_answered"]
    assert facts["pool_waits"] == 0  # admission refused before the pool ran dry
    assert not [f for f in timeline.failures if "pay-in" in f]


def test_a_failed_push_write_is_caught_and_the_push_resumes_booking_each_voucher_once(
    run: RunDrill, engine: Engine, drill_clock: ManualClock
) -> None:
    timeline = run_and_judge(run, DrillName.FINANCE_DB_FAILURE, engine, drill_clock)

    assert timeline.facts["writes_failed"] > 0 and timeline.facts["vouchers"] > 0
    finance = next(v for v in timeline.verdicts if v.check == "finance")
    assert finance.ok and "each booked once" in finance.detail


def test_a_hung_node_is_caught_its_pay_ins_fail_over_and_the_hung_ones_settle_once(
    run: RunDrill, engine: Engine, drill_clock: ManualClock
) -> None:
    timeline = run_and_judge(run, DrillName.NODE_HANG, engine, drill_clock)

    incidents = Incidents(engine, drill_clock)
    by_kind = {c.expected.kind: incidents.get(c.incident_id or "") for c in timeline.caught}
    assert f"stood still for {HANG_S:.1f} s" in by_kind["node_hang"].summary
    assert by_kind["node_hang"].opened_at == timeline.fault_at  # when it stalled, not seen
    drill_kinds = {i.kind for i in incidents.list(opened_from=DRILL_START).incidents}
    assert "heartbeat_missing" not in drill_kinds  # the stalled worker's margin is its own
    assert timeline.facts["payins_via_beta"] > 0
    assert timeline.facts["payins_unknown"] > 0  # answered late, settled by query back
    banks = next(v for v in timeline.verdicts if v.check == "banks")
    assert banks.ok


def test_a_bad_deploy_crash_loop_is_caught_and_closes_after_the_rollback(
    run: RunDrill, engine: Engine, drill_clock: ManualClock
) -> None:
    timeline = run_and_judge(run, DrillName.BAD_DEPLOY, engine, drill_clock)

    assert timeline.facts["restarts_seen"] >= 3
    beats = next(v for v in timeline.verdicts if v.check == "heartbeats")
    assert beats.ok
