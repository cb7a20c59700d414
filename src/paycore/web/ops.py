"""Operational endpoints: liveness, channel health, and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from paycore.bills import freshness
from paycore.bills.admission import BillsCollector
from paycore.ops.incidents_metrics import IncidentsCollector
from paycore.ops.metrics import SloCollector
from paycore.runtime import Runtime
from paycore.security.api import require
from paycore.security.model import Principal
from paycore.web.bodies import JsonRoute

router = APIRouter(tags=["ops"], route_class=JsonRoute)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/channels")
def channels(
    runtime: RuntimeDep, _principal: Annotated[Principal, Depends(require("admin"))]
) -> dict[str, Any]:
    """Every channel's breaker state and recent calls, as this server process sees them."""
    return {"data": [asdict(s) for s in runtime.channels.registry.snapshots()]}


class _PaycoreCollector(Collector):
    """Read at scrape time: the numbers come from the database and the breakers, so every
    server process reports the same backlog."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        count, age_s = self._runtime.janitor.unresolved()
        yield GaugeMetricFamily(
            "paycore_unresolved_orders", "orders still waiting for a channel's result", count
        )
        yield GaugeMetricFamily(
            "paycore_unresolved_order_age_seconds", "age of the oldest unresolved order", age_s
        )
        stats = self._runtime.notifications.delivery_stats()
        yield GaugeMetricFamily(
            "paycore_webhooks_pending", "merchant notifications not yet delivered", stats.pending
        )
        yield GaugeMetricFamily(
            "paycore_webhooks_pending_age_seconds",
            "age of the oldest undelivered notification",
            stats.oldest_pending_age_s,
        )
        yield GaugeMetricFamily(
            "paycore_webhooks_failed", "notifications that exhausted their retries", stats.failed
        )
        for last_check in self._runtime.ledger_checks.history(limit=1):
            yield GaugeMetricFamily(
                "paycore_ledger_check_ok",
                "1 if the last ledger self-check found every balance right",
                1 if last_check.ok else 0,
            )
            yield GaugeMetricFamily(
                "paycore_ledger_check_age_seconds",
                "time since the last ledger self-check started",
                (self._runtime.clock.now() - last_check.started_at).total_seconds(),
            )
        yield from _reports_freshness(self._runtime)
        open_channels = GaugeMetricFamily(
            "paycore_channel_open", "1 while a channel is taken out of traffic", labels=["channel"]
        )
        for snapshot in self._runtime.channels.registry.snapshots():
            open_channels.add_metric([snapshot.channel], 0 if snapshot.state == "closed" else 1)
        yield open_channels


def _reports_freshness(runtime: Runtime) -> Iterator[GaugeMetricFamily]:
    """How far the database bills read from trails the primary (0 when it is the primary)."""
    found = freshness.of_engine(runtime.reports_engine)
    if found is None:
        return
    yield GaugeMetricFamily(
        "paycore_reports_in_recovery",
        "1 while bills read from a standby (a read replica)",
        1 if found.in_recovery else 0,
    )
    yield GaugeMetricFamily(
        "paycore_reports_replica_lag_seconds",
        "how stale bills may be: age of the replica's data behind the primary",
        found.lag_s,
    )
    yield GaugeMetricFamily(
        "paycore_reports_replica_lag_bytes",
        "WAL the replica has received and not yet replayed",
        found.bytes_behind,
    )


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus exposition. Unauthenticated like any scrape target: keep it internal."""
    registry = CollectorRegistry()
    registry.register(_PaycoreCollector(runtime))
    registry.register(BillsCollector(runtime.bills_admission, runtime.reports_engine))
    registry.register(SloCollector(runtime.slo_alerts, runtime.sli))
    registry.register(IncidentsCollector(runtime.incidents, runtime.clock))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
