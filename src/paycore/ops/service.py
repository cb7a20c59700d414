"""The ops tick: burn-rate alerts and detectors give the signals that fire now, and the
incidents service opens, refreshes and closes incidents from them. Every `serve` process
runs it (`Ops.run_worker`); the incidents' database constraints make that safe."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from paycore import strict_json
from paycore.clock import Clock
from paycore.errors import Rejected
from paycore.ops import detectors
from paycore.ops.heartbeat import Heartbeats, node_name
from paycore.ops.heartbeat_node import NodeHangs, NodeWatch
from paycore.ops.incidents import Incidents, Reconciled
from paycore.ops.model import OpsConfig, Signal, ops_config_from

if TYPE_CHECKING:
    from paycore.runtime import Runtime

log = logging.getLogger(__name__)

OPS_TICK_S = 10.0
"""How often `serve` evaluates alerts and detectors; it bounds how late an incident opens
or closes. Conditions shorter than a tick are not lost: a node reports its own stall at
the next tick, and the breaker detector samples the breakers at every node-watch beat
(1 s), so a channel out of traffic past `breaker_open_s` between two ticks still fires."""
ALERT_PREFIX = "burn:"


class AlertSource(Protocol):
    def evaluate(self, now: datetime | None = None) -> list[Signal]: ...


def load_ops_config(path: str) -> OpsConfig:
    """PAYCORE_OPS_INCIDENTS_FILE: {"thresholds": {...}, "grade_rules": [...]}; both optional,
    the documented defaults otherwise. No file: the defaults."""
    if not path:
        return OpsConfig()
    try:
        document = strict_json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise Rejected("invalid_ops_config", f"cannot read {path}: {exc.strerror}") from exc
    if not isinstance(document, dict):
        raise Rejected("invalid_ops_config", "the file holds one JSON object")
    return ops_config_from(document)


class Ops:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        incidents: Incidents,
        detectors: Sequence[detectors.Detector],
        alerts: AlertSource | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.incidents = incidents
        self.detectors = tuple(detectors)
        self.alerts = alerts

    @classmethod
    def for_runtime(
        cls,
        runtime: Runtime,
        *,
        alerts: AlertSource | None = None,
        heartbeats: Heartbeats | None = None,
        incidents: Incidents | None = None,
        config: OpsConfig | None = None,
        node_watch: NodeWatch | None = None,
    ) -> Ops:
        """Every detector over the runtime's services; the burn-rate alerts given, else
        ones over the default SLOs; the incidents service given, else one of its own.
        `node_watch`: this process's, whose stalls the node itself reports."""
        config = config or load_ops_config(getattr(runtime.settings, "ops_incidents_file", ""))
        engine, clock, t = runtime.engine, runtime.clock, config.thresholds
        if heartbeats is None:
            heartbeats = Heartbeats(engine, clock, node=node_name(), thresholds=t)
        if alerts is None:
            from paycore.ops.alerts import BurnRateAlerts  # written beside this slice

            alerts = BurnRateAlerts(engine, clock)
        admission, reports_engine = runtime.bills_admission, runtime.reports_engine
        breakers = detectors.BreakerOpen(runtime.channels.registry.snapshots, t)
        if node_watch is not None:  # looks every second: an outage between ticks counts
            node_watch.on_beat.append(breakers.sample)
        found: list[detectors.Detector] = [
            breakers,
            detectors.UnresolvedOrders(engine, t),
            detectors.WebhookBacklog(runtime.notifications.delivery_stats, t),
            detectors.BillsPool(lambda: detectors.bills_reading(admission, reports_engine), t),
            detectors.HungWorkers(heartbeats),
            NodeHangs(heartbeats, node_watch),
            detectors.CrashLoops(heartbeats),
            detectors.FinancePush(runtime.finance.backlog, t),
        ]
        incidents = incidents or Incidents(engine, clock, config=config)
        return cls(engine, clock, incidents=incidents, detectors=found, alerts=alerts)

    def signals(self, now: datetime) -> tuple[list[Signal], list[str]]:
        """What fires now, and the key prefixes of the sources that could not tell."""
        firing: list[Signal] = []
        held: list[str] = []
        if self.alerts is not None:
            try:
                firing.extend(self.alerts.evaluate(now))
            except Exception:
                log.exception("burn-rate alerts could not be evaluated; their incidents held")
                held.append(ALERT_PREFIX)
        for detector in self.detectors:
            try:
                firing.extend(detector(now))
            except Exception:
                log.exception("detector failed; its incidents held", extra=_named(detector))
                held.append(detector.prefix)
        return firing, held

    def tick(self, now: datetime | None = None) -> Reconciled:
        now = now or self._clock.now()
        firing, held = self.signals(now)
        return self.incidents.reconcile(firing, now, held=held)

    def run_worker(self, stop: threading.Event, interval_s: float = OPS_TICK_S) -> None:
        """Tick every `interval_s` until `stop` is set; a failed tick is logged, never fatal."""
        while not stop.wait(interval_s):
            try:
                self.tick()
            except Exception:
                log.exception("ops tick failed")


def _named(detector: Any) -> dict[str, str]:
    return {"detector": type(detector).__name__}
