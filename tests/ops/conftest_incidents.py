"""Fixtures of the incidents tests (imported by test_incident*, test_detector*,
test_heartbeat*, test_grading*, test_ops_service*; tests/ops/conftest.py is the SLO one's).
A test module imports `incidents_fixture` and `thresholds_fixture`, and its tests take
`incidents` and `thresholds`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from paycore import ids
from paycore.clock import ManualClock
from paycore.ledger.store_checks import checks
from paycore.ops.incidents import Incidents
from paycore.ops.model import OpsConfig, Severity, Signal, SignalSource, Thresholds
from paycore.payments.store import orders

CLEAR_AFTER_S = 60


@pytest.fixture(name="thresholds")
def thresholds_fixture() -> Thresholds:
    return Thresholds(clear_after_s=CLEAR_AFTER_S)


@pytest.fixture(name="incidents")
def incidents_fixture(engine: Engine, clock: ManualClock, thresholds: Thresholds) -> Incidents:
    return Incidents(engine, clock, config=OpsConfig(thresholds=thresholds))


def signal(
    key: str = "breaker:alpha",
    *,
    since: datetime,
    kind: str = "breaker_open",
    channels: tuple[str, ...] = (),
    products: tuple[str, ...] = (),
    summary: str = "channel alpha out of traffic",
) -> Signal:
    return Signal(
        key=key,
        source=SignalSource.DETECTOR,
        kind=kind,
        severity=Severity.PAGE,
        summary=summary,
        since=since,
        products=products,
        channels=channels,
    )


def add_order(
    engine: Engine,
    *,
    created_at: datetime,
    status: str = "succeeded",
    merchant_id: str = "mch_1",
    amount: int = 1000,
    currency: str = "CNY",
    channel: str | None = "alpha",
    product: str = "qr",
    failure_class: str | None = None,
    finished_after_s: float | None = 1.0,
    kind: str = "payin",
) -> str:
    """One payment order row as the payments slice stores it (only what impact reads
    matters; the rest is filled plausibly)."""
    order_id = ids.new_id("pay")
    finished = (
        None if finished_after_s is None else created_at + timedelta(seconds=finished_after_s)
    )
    values: Mapping[str, Any] = {
        "id": order_id, "kind": kind, "merchant_id": merchant_id, "merchant_reference": order_id,
        "product": product, "amount": amount, "currency": currency, "fee_amount": 0,
        "status": status, "result_unknown": False, "channel": channel, "channel_txn_id": None,
        "failure_class": failure_class, "failure_code": None, "failure_message": "",
        "parent_id": None, "refunded_amount": 0, "party_enc": {},
        "party_masked": {}, "expires_at": None, "created_at": created_at,
        "updated_at": created_at, "finished_at": finished, "next_query_at": None,
        "query_attempts": 0, "version": 1,
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(orders).values(**values))
    return order_id


def add_check_run(
    engine: Engine, *, at: datetime, ok: bool, totals: Mapping[str, list[int]] | None = None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(checks).values(
                id=ids.new_id("chk"),
                started_at=at,
                finished_at=at,
                ok=ok,
                accounts_checked=3,
                problems=[] if ok else ["a: stored != journal"],
                totals=dict(totals or {}),
                trigger="schedule",
            )
        )


def closed(incidents: Incidents, clock: ManualClock, key: str) -> str:
    """An incident opened by `key`, quiet for the clear delay, and closed: its id."""
    incident_id = incidents.reconcile([signal(key, since=clock.now())]).opened[0]
    clock.advance(1)
    incidents.reconcile([])
    clock.advance(CLEAR_AFTER_S)
    incidents.reconcile([])
    return incident_id
