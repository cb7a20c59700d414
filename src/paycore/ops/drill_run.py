"""Running one drill: the sandbox, the incident machinery over it (ops/service.Ops with every
detector and the burn-rate alerts, as `serve` runs it), the drill itself, and the
after-checks every drill ends with: the ledger check, the cross-slice flow check, the
banks' records, and the finance reconciliation of the day the drill made (the day is
closed on the drill's clock, its vouchers derived, pushed to a sandbox receiver and
reconciled with 0 missing).

The machinery uses the deployment's ops configuration (PAYCORE_OPS_INCIDENTS_FILE, else
the documented defaults), except where a drill states its own (node-hang: the NODE_HANG_*
thresholds, since the defaults are set against noise and a 3-10 s hang is below them).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from paycore.clock import ManualClock, SystemClock
from paycore.ledger.service import Ledger
from paycore.ops import drill_deploy, drill_finance, drill_hang, drill_storm
from paycore.ops.drill_faults import SteppedWorker
from paycore.ops.drill_sandbox import Sandbox, sandbox
from paycore.ops.drill_traffic import Traffic, banks_verdict, flows_verdict, ledger_verdict
from paycore.ops.drills import DrillName, Driver, Timeline
from paycore.ops.heartbeat import Heartbeats
from paycore.ops.model import INCIDENTS_PAGE_MAX, Incident, OpsConfig
from paycore.ops.service import Ops, load_ops_config
from paycore.payments.model import OrderKind
from paycore.platform.config import Settings
from paycore.security.crypto import FieldCipher

NODE_HANG_BREAKER_OPEN_S = 3
NODE_HANG_HEARTBEAT_EVERY_S = 1
NODE_HANG_HEARTBEAT_MARGIN_S = 2
"""What catches a 3-10 s hang: a channel out of traffic for 3 s, a worker of a 1 s loop
silent for 4 s (1 + 1 + 2). The defaults (60 s; 1 + 5 + 30 s) let such a hang pass."""
DRILL_WORKER = "drill-loop"
DRILL_WORKER_INTERVAL_S = 1.0
EARLIER_DRILL_CLEARANCE_S = 600
"""On a database where an earlier drill ran, a drill starts this long after that one's last
pay-in (its clock ran ahead of the real one), so each measures only its own traffic."""
TICKS_S: Mapping[DrillName, int] = {
    DrillName.FINANCE_DB_FAILURE: drill_finance.TICK_S,
    DrillName.BAD_DEPLOY: drill_deploy.TICK_S,
}


class Machinery:
    """Ops over the sandbox; incidents that existed before the drill are not its own."""

    def __init__(self, ops: Ops, heartbeats: Heartbeats) -> None:
        self.ops = ops
        self.heartbeats = heartbeats
        self._before = {i.id for i in self._listed()}

    @classmethod
    def over(cls, box: Sandbox, config: OpsConfig) -> Machinery:
        runtime = box.runtime
        node = f"drill:{os.getpid()}"
        heartbeats = Heartbeats(runtime.engine, box.clock, node=node, thresholds=config.thresholds)
        return cls(Ops.for_runtime(runtime, heartbeats=heartbeats, config=config), heartbeats)

    def tick(self) -> None:
        self.ops.tick()

    def new_incidents(self) -> list[Incident]:
        return [i for i in self._listed() if i.id not in self._before]

    def _listed(self) -> list[Incident]:
        return list(self.ops.incidents.list(limit=INCIDENTS_PAGE_MAX).incidents)


def drill_config(name: DrillName, config: OpsConfig) -> OpsConfig:
    if name is not DrillName.NODE_HANG:
        return config
    thresholds = dataclasses.replace(
        config.thresholds,
        breaker_open_s=NODE_HANG_BREAKER_OPEN_S,
        heartbeat_every_s=NODE_HANG_HEARTBEAT_EVERY_S,
        heartbeat_margin_s=NODE_HANG_HEARTBEAT_MARGIN_S,
    )
    return dataclasses.replace(config, thresholds=thresholds)


def run_drill(
    name: DrillName,
    settings: Settings,
    *,
    clock: ManualClock | None = None,
    engine: Engine | None = None,
    ledger: Ledger | None = None,
    cipher: FieldCipher | None = None,
    config: OpsConfig | None = None,
) -> Timeline:
    """Run one drill on the settings' database (or the engine given) and judge it."""
    clock = clock or ManualClock(SystemClock().now())
    if config is None:
        config = load_ops_config(getattr(settings, "ops_incidents_file", ""))
    config = drill_config(name, config)
    with (
        tempfile.TemporaryDirectory(prefix="paycore-drill-") as scratch,
        sandbox(settings, clock, engine=engine, ledger=ledger, cipher=cipher) as box,
    ):
        _after_earlier_drills(box)
        machinery = Machinery.over(box, config)
        driver = Driver(drill=name, clock=clock, machinery=machinery, tick_s=TICKS_S.get(name, 1))
        traffic = Traffic.for_drill(box.runtime, name.value)
        try:
            _DRILLS[name](driver, box, traffic, machinery, Path(scratch))
        finally:
            machinery.heartbeats.forget()  # the drill's node is gone, not hung
        after_checks(driver, box, traffic, Path(scratch) / "finance-after")
        driver.timeline.finished_at = clock.now()
        return driver.timeline


def _after_earlier_drills(box: Sandbox) -> None:
    latest = box.runtime.payments.list_orders(merchant_id=None, kind=OrderKind.PAYIN, limit=1)
    if not latest:
        return
    start = latest[0].created_at + timedelta(seconds=EARLIER_DRILL_CLEARANCE_S)
    if start > box.clock.now():
        box.clock.advance((start - box.clock.now()).total_seconds())


def run_configured(name: DrillName) -> Timeline:
    """The CLI's: the configured database, the deployment's field keys and ops config."""
    return run_drill(name, Settings.from_env())


def after_checks(driver: Driver, box: Sandbox, traffic: Traffic, data_dir: Path) -> None:
    timeline = driver.timeline
    if not any(v.check == "finance" for v in timeline.verdicts):
        timeline.verdicts.append(drill_finance.day_after(box, data_dir))
    timeline.verdicts += [
        ledger_verdict(box.runtime),
        flows_verdict(box.runtime),
        banks_verdict(traffic, box.banks),
    ]
    for verdict in timeline.verdicts:
        if not verdict.ok:
            driver.fail(f"check {verdict.check}: {verdict.detail}")


def _storm(driver: Driver, box: Sandbox, traffic: Traffic, _m: Machinery, _d: Path) -> None:
    drill_storm.run(driver, box, traffic)


def _finance(driver: Driver, box: Sandbox, traffic: Traffic, _m: Machinery, d: Path) -> None:
    drill_finance.run(driver, box, traffic, d / "finance")


def _hang(driver: Driver, box: Sandbox, traffic: Traffic, m: Machinery, _d: Path) -> None:
    worker = SteppedWorker(m.heartbeats, DRILL_WORKER, interval_s=DRILL_WORKER_INTERVAL_S)
    driver.beside_tick.append(worker.iterate)
    worker.iterate()
    drill_hang.run(driver, box, traffic, worker.hang)


def _deploy(driver: Driver, box: Sandbox, traffic: Traffic, m: Machinery, _d: Path) -> None:
    drill_deploy.run(driver, box, traffic, m.heartbeats.thresholds)


_DRILLS: Mapping[DrillName, Callable[[Driver, Sandbox, Traffic, Machinery, Path], Any]] = {
    DrillName.MONTH_END_STORM: _storm,
    DrillName.FINANCE_DB_FAILURE: _finance,
    DrillName.NODE_HANG: _hang,
    DrillName.BAD_DEPLOY: _deploy,
}
