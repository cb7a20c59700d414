"""The drill's judge with a scripted incident machinery (no database): an incident that
opens late, is graded otherwise or never closes fails the drill, with the reason; the
drill bank pays a reference once and hangs like the sandbox bank; the failing-writes
injector fails only the write it names."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, update
from sqlalchemy.exc import OperationalError

from paycore.channels.model import ChannelTimeout, Payer, PayinRequest
from paycore.clock import ManualClock
from paycore.ops.drill_bank import DrillBank
from paycore.ops.drill_faults import FailingWrites
from paycore.ops.drills import DrillName, Driver
from paycore.ops.model import Grade, Impact, Incident, IncidentStatus

START = datetime.fromisoformat("2026-12-07T02:00:00+00:00")


class ScriptedMachinery:
    """Opens one incident of `kind` at tick `open_at`, closes it at tick `close_at`."""

    def __init__(
        self, clock: ManualClock, kind: str, *, open_at: int, close_at: int, grade: Grade
    ) -> None:
        self.clock = clock
        self.kind = kind
        self.open_at = open_at
        self.close_at = close_at
        self.grade = grade
        self.ticks = 0
        self.incident: Incident | None = None

    def tick(self) -> None:
        self.ticks += 1
        now = self.clock.now()
        if self.ticks == self.open_at:
            self.incident = Incident(
                id="inc_1", key=self.kind, kind=self.kind, status=IncidentStatus.OPEN,
                summary="", opened_at=now - timedelta(seconds=30), closed_at=None,
                impact=Impact(), auto_grade=Grade.D, grade=None,
            )  # fmt: skip
        if self.ticks == self.close_at and self.incident is not None:
            self.incident = replace(
                self.incident, status=IncidentStatus.RESOLVED, closed_at=now, auto_grade=self.grade
            )

    def new_incidents(self) -> list[Incident]:
        return [self.incident] if self.incident is not None else []


def storm_drill(machinery: ScriptedMachinery) -> Driver:
    driver = Driver(drill=DrillName.MONTH_END_STORM, clock=machinery.clock, machinery=machinery)
    driver.fault("storm")
    driver.await_incidents()
    driver.recover("calm")
    driver.await_closed(within_s=100)
    return driver


def test_detection_is_timed_from_the_fault_to_the_tick_that_first_saw_the_incident() -> None:
    clock = ManualClock(START)
    driver = storm_drill(ScriptedMachinery(clock, "bills_pool_saturated", open_at=3,
                                           close_at=10, grade=Grade.D))  # fmt: skip

    [caught] = driver.timeline.caught
    assert driver.timeline.ok, driver.timeline.failures
    assert driver.timeline.detected_after_s(caught) == 3
    assert caught.opened_at == START + timedelta(seconds=3 - 30)
    assert caught.grade is Grade.D and caught.closed_at is not None


def test_an_incident_opened_after_its_limit_fails_the_drill() -> None:
    clock = ManualClock(START)
    driver = storm_drill(ScriptedMachinery(clock, "bills_pool_saturated", open_at=40,
                                           close_at=50, grade=Grade.D))  # fmt: skip

    assert not driver.timeline.ok
    assert driver.timeline.failures[0] == "no bills_pool_saturated incident within 10 s"


def test_an_incident_of_another_grade_fails_the_drill() -> None:
    clock = ManualClock(START)
    driver = storm_drill(ScriptedMachinery(clock, "bills_pool_saturated", open_at=2,
                                           close_at=5, grade=Grade.B))  # fmt: skip

    assert driver.timeline.failures == ["inc_1 graded B, expected D"]


def test_an_incident_still_open_after_the_recovery_fails_the_drill() -> None:
    clock = ManualClock(START)
    driver = storm_drill(ScriptedMachinery(clock, "bills_pool_saturated", open_at=2,
                                           close_at=10_000, grade=Grade.D))  # fmt: skip

    assert driver.timeline.failures == ["bills_pool_saturated incident inc_1 still open"]


def test_an_incident_of_another_kind_is_not_the_drills() -> None:
    clock = ManualClock(START)
    driver = storm_drill(ScriptedMachinery(clock, "webhook_backlog", open_at=1,
                                           close_at=5, grade=Grade.D))  # fmt: skip

    assert driver.timeline.caught[0].incident_id is None
    assert not driver.timeline.ok


def payin(reference: str) -> PayinRequest:
    return PayinRequest(
        reference=reference, amount_minor=100, currency="CNY", payer=Payer("6222021234567890123"),
        description="", expires_at=START, notify_url="",
    )  # fmt: skip


def test_the_drill_bank_pays_a_reference_once_however_often_it_is_sent() -> None:
    bank = DrillBank("alpha")

    first = bank.pay_in(payin("pay_1"))
    again = bank.pay_in(payin("pay_1"))

    assert first == again
    assert bank.paid() == {"pay_1"}
    assert bank.received["pay_1"] == 2


def test_a_hung_drill_bank_books_the_payin_and_times_out_once_released() -> None:
    bank = DrillBank("alpha")
    bank.hang()
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            bank.pay_in(payin("pay_2"))
            outcome.append(None)
        except ChannelTimeout as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while bank.hung == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    with pytest.raises(ChannelTimeout):
        bank.probe()
    assert bank.hung == 1 and not outcome
    bank.release()
    caller.join(5)

    assert isinstance(outcome[0], ChannelTimeout)
    assert bank.paid() == {"pay_2"}
    bank.probe()


def test_failing_writes_fail_only_the_update_they_name_and_only_while_on() -> None:
    engine = create_engine("sqlite://")
    table = Table("finance_vouchers", MetaData(), Column("id", String, primary_key=True),
                  Column("push_status", String))  # fmt: skip
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id="v1", push_status="pending"))
    writes = FailingWrites(engine, table="finance_vouchers", column="push_status", value="pushed")

    def mark(status: str) -> None:
        with engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == "v1").values(push_status=status))

    mark("pushed")  # off: it passes
    writes.on = True
    with pytest.raises(OperationalError):
        mark("pushed")
    mark("pending")  # another value of the column
    writes.on = False
    mark("pushed")
    writes.remove()

    assert writes.failed == 1
