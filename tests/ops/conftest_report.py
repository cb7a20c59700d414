"""Fixtures of the weekly report's tests: two seeded weeks of March 2026 (2026-W09 and
2026-W10) with real pay-ins, payouts and refunds through the payments service and a
scripted bank that fails some, the prober's records, and incidents opened and closed by
the Incidents service, one of them reviewed. Imported by the report tests, which take
`seeded` (and with it the one-bank `runtime`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from paycore.channels.model import BankAccount, FailureClass, Payer
from paycore.clock import ManualClock
from paycore.ops import api as ops_api
from paycore.ops import api_report, api_slo
from paycore.ops.alerts import BurnRateAlerts
from paycore.ops.incidents import Incidents
from paycore.ops.model import Severity, Signal, SignalSource
from paycore.ops.report import WeeklyReports
from paycore.ops.store import probes
from paycore.payments.service import PayinCommand, PayoutCommand, RefundCommand
from paycore.runtime import Runtime
from paycore.web.app import create_app
from tests.payments.fakes import ScriptedChannel, declined, succeeded
from tests.payments.http_conftest import one_scripted_bank, runtime_with_one_scripted_bank

alpha = one_scripted_bank
runtime = runtime_with_one_scripted_bank

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = "2026-W10"  # Monday 2 March to Sunday 8 March 2026
PREVIOUS = "2026-W09"
PAYER = Payer(card_number="6228480402564890018", name="张三", phone="13812345678")
BENEFICIARY = BankAccount(account_number="6214830100001234", name="李四", bank_code="CMB")
_ids = itertools.count(1)


def at(day: date, hour: int = 10) -> datetime:
    """`hour` o'clock in Shanghai on `day`, as UTC."""
    return datetime.combine(day, time(hour), SHANGHAI).astimezone(UTC)


@dataclass
class Seeder:
    runtime: Runtime
    clock: ManualClock
    alpha: ScriptedChannel
    merchant_id: str = ""
    paid: list[str] = field(default_factory=list)

    def to(self, when: datetime) -> None:
        self.clock.advance((when - self.clock.now()).total_seconds())

    def payin(self, answer: str = "succeeded") -> str:
        """`answer`: succeeded | user | channel | system (a failure of that class) |
        processing (accepted, never answered: unresolved)."""
        if answer == "succeeded":
            self.alpha.then(succeeded())
        elif answer != "processing":
            self.alpha.then(declined(f"{answer}_failure", FailureClass(answer)))
        cmd = PayinCommand(self.merchant_id, "rent", 10_000, "CNY", PAYER, "rent")
        order_id = str(
            self.runtime.payments.create_payin(cmd, idempotency_key=f"in-{next(_ids)}").body["id"]
        )
        if answer == "succeeded":
            self.paid.append(order_id)
        return order_id

    def payout(self, answer: str = "succeeded") -> None:
        self.alpha.then(
            succeeded() if answer == "succeeded" else declined("down", FailureClass.CHANNEL)
        )
        cmd = PayoutCommand(self.merchant_id, 1_000, "CNY", BENEFICIARY)
        self.runtime.payments.create_payout(cmd, idempotency_key=f"po-{next(_ids)}")

    def refund(self) -> None:
        self.alpha.then(succeeded())
        cmd = RefundCommand(self.merchant_id, self.paid[0], 500)
        self.runtime.payments.create_refund(cmd, idempotency_key=f"rf-{next(_ids)}")

    def probes(self, day: date, *, ok: int, failed: int = 0) -> None:
        """The prober's records of one day, one a minute from 09:00."""
        rows = [
            {
                "target": "payin:alpha" if n % 2 else "health",
                "node": "node-1",
                "ok": n < ok,
                "latency_ms": 12,
                "error": "" if n < ok else "timeout",
                "probed_at": at(day, 9) + timedelta(minutes=n),
            }
            for n in range(ok + failed)
        ]
        with self.runtime.engine.begin() as conn:
            conn.execute(insert(probes), rows)

    def incident(self, key: str, summary: str, *, opened: datetime, minutes: int) -> str:
        """An incident the Incidents service opens at `opened` and closes `minutes` later."""
        incidents = Incidents(self.runtime.engine, self.clock)
        signal = Signal(
            key=key,
            source=SignalSource.DETECTOR,
            kind="bills_pool_saturated",
            severity=Severity.PAGE,
            summary=summary,
            since=opened,
        )
        [incident_id] = incidents.reconcile([signal], opened).opened
        # Quiet from `minutes` on: longer than the clear delay, so it closes at once.
        closed = incidents.reconcile([], opened + timedelta(minutes=minutes))
        assert closed.closed == (incident_id,), closed
        return incident_id


@dataclass(frozen=True)
class Seeded:
    runtime: Runtime
    reports: WeeklyReports
    merchant_id: str
    reviewed_id: str
    awaiting_id: str


@pytest.fixture
def seeded(runtime: Runtime, clock: ManualClock, alpha: ScriptedChannel) -> Seeded:
    """W09: 4 pay-ins paid, 1 failed by the bank; 10 probes, all ok.
    W10: pay-ins 6 paid, 1 declined for the payer, 1 failed by the bank, 1 by paycore,
    1 never answered; payouts 1 paid, 1 failed by the bank; 1 refund; 30 probes, 1 failed;
    two incidents (one reviewed C, one awaiting review); and a B reviewed in January."""
    merchant, _secret = runtime.merchants.create(name="Lakeside Rentals", fee_bps=0)
    s = Seeder(runtime, clock, alpha, merchant.id)
    incidents = Incidents(runtime.engine, clock)
    january = s.incident("bills_pool", "账单池耗尽", opened=at(date(2026, 1, 12)), minutes=90)
    incidents.review(january, by="ops", grade="B")
    s.to(at(date(2026, 2, 24)))
    for answer in ("succeeded", "succeeded", "channel", "succeeded", "succeeded"):
        s.payin(answer)
    s.probes(date(2026, 2, 24), ok=10)
    reviewed, awaiting = _seed_week_10(s)
    s.to(at(date(2026, 3, 10)))
    incidents.review(
        reviewed,
        by="ops",
        grade="C",
        cause="月末账单查询打满连接池",
        handling="账单查询限流并扩容连接池",
    )
    reports = WeeklyReports(
        engine=runtime.engine, payments=runtime.payments, incidents=incidents, clock=clock
    )
    return Seeded(runtime, reports, merchant.id, reviewed, awaiting)


def _seed_week_10(s: Seeder) -> tuple[str, str]:
    """Monday, Wednesday and Friday of 2026-W10; the ids of its two incidents."""
    s.to(at(date(2026, 3, 2)))
    for answer in ("succeeded", "succeeded", "user", "channel", "succeeded"):
        s.payin(answer)
    s.probes(date(2026, 3, 2), ok=10)
    s.to(at(date(2026, 3, 4)))
    for answer in ("succeeded", "system", "succeeded"):
        s.payin(answer)
    s.payout("succeeded")
    s.payout("channel")
    s.refund()
    s.probes(date(2026, 3, 4), ok=9, failed=1)
    reviewed = s.incident(
        "bills_pool", "商户账单查询性能故障", opened=at(date(2026, 3, 4), 14), minutes=25
    )
    s.to(at(date(2026, 3, 6)))
    s.payin("succeeded")
    s.payin("processing")
    s.probes(date(2026, 3, 6), ok=10)
    awaiting = s.incident(
        "heartbeat:node-2:relay", "节点卡顿 3-10 秒", opened=at(date(2026, 3, 6), 20), minutes=8
    )
    return reviewed, awaiting


@pytest.fixture
def report_client(
    seeded: Seeded, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The HTTP API over the seeded runtime with the report's routes, and the routes it is
    compared with (GET /v1/ops/availability, GET /v1/ops/incidents), whether or not the
    app and the Runtime wire them yet."""
    runtime = seeded.runtime
    for name, service in (
        ("slo_alerts", BurnRateAlerts(runtime.engine, runtime.clock)),
        ("incidents", seeded.reports.incidents),
    ):
        if not hasattr(runtime, name):
            monkeypatch.setattr(runtime, name, service, raising=False)
    app = create_app(runtime=runtime)
    routed = {getattr(route, "path", "") for route in app.routes}
    for router in (api_report.router, api_slo.router, ops_api.router):
        if not routed & {getattr(route, "path", "") for route in router.routes}:
            app.include_router(router)
    with TestClient(app, headers={"Authorization": f"Bearer {admin_key}"}) as client:
        yield client
