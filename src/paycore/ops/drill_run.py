"""Running one drill: the sandbox, the incident machinery over it (ops/service.Ops with every
detector and the burn-rate alerts, as `serve` runs it), the drill itself, and the
after-checks every drill ends with: the ledger check, the cross-slice flow check, the
banks' records, and the finance reconciliation of the day the drill made (the day is
closed on the drill's clock, its vouchers derived, pushed to a sandbox receiver and
reconciled with 0 missing).

The machinery uses the deployment's ops configuration (PAYCORE_OPS_INCIDENTS_FILE, else
the documented defaults) for every drill, node-hang included: the defaults catch the
seed's 3-10 s hangs (the node watch, ops/heartbeat_node.py).
"""

from __future__ import annotations

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
from paycore.ops.drill_sandbox import Sandbox, sandbox
from paycore.ops.drill_traffic import Traffic, banks_verdict, flows_verdict, ledger_verdict
from paycore.ops.drills import DrillName, Driver, Timeline
from paycore.ops.heartbeat import Heartbeats
from paycore.ops.heartbeat_node import NodeWatch
from paycore.ops.model import INCIDENTS_PAGE_MAX, Incident, OpsConfig
from paycore.ops.service import Ops, load_ops_config
from paycore.payments.model import OrderKind
from paycore.platform.config import Settings
from paycore.security.crypto import FieldCipher

EARLIER_DRILL_CLEARANCE_S = 600
"""On a database where an earlier drill ran, a drill starts this long after that one's last
pay-in (its clock ran ahead of the real one), so each measures only its own traffic."""
TICKS_S: Mapping[DrillName, int] = {
    DrillName.FINANCE_DB_FAILURE: drill_finance.TICK_S,
    DrillName.BAD_DEPLOY: drill_deploy.TICK_S,
}


class Machinery:
    """Ops over the sandbox; incidents that existed before the drill are not its own."""

    def __init__(self, ops: Ops, heartbeats: Heartbeats, node_watch: NodeWatch) -> None:
        self.ops = ops
        self.heartbeats = heartbeats
        self.node_watch = node_watch
        """The drill node's watch, on the drill's clock; only node-hang steps it."""
        self._before = {i.id for i in self._listed()}

    @classmethod
    def over(cls, box: Sandbox, config: OpsConfig) -> Machinery:
        runtime = box.runtime
        node = f"drill:{os.getpid()}"
        heartbeats = Heartbeats(runtime.engine, box.clock, node=node, thresholds=config.thresholds)
        watch = NodeWatch(
            heartbeats, box.clock, monotonic=lambda: drill_hang.HungNode.monotonic_of(box.clock)
        )
        ops = Ops.for_runtime(runtime, heartbeats=heartbeats, config=config, node_watch=watch)
        return cls(ops, heartbeats, watch)

    def tick(self) -> None:
        self.ops.tick()

    def new_incidents(self) -> list[Incident]:
        return [i for i in self._listed() if i.id not in self._before]

    def _listed(self) -> list[Incident]:
        return list(self.ops.incidents.list(limit=INCIDENTS_PAGE_MAX).incidents)


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
    node = drill_hang.HungNode(m.node_watch, box.clock)
    with m.node_watch.batching():  # as in `serve`: the watch writes every beat of the node
        driver.beside_tick.append(node.step)
        node.step()
        drill_hang.run(driver, box, traffic, node.hang)


def _deploy(driver: Driver, box: Sandbox, traffic: Traffic, m: Machinery, _d: Path) -> None:
    drill_deploy.run(driver, box, traffic, m.heartbeats.thresholds)


_DRILLS: Mapping[DrillName, Callable[[Driver, Sandbox, Traffic, Machinery, Path], Any]] = {
    DrillName.MONTH_END_STORM: _storm,
    DrillName.FINANCE_DB_FAILURE: _finance,
    DrillName.NODE_HANG: _hang,
    DrillName.BAD_DEPLOY: _deploy,
}
