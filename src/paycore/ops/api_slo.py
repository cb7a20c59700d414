"""GET /v1/ops/slos, /v1/ops/alerts, /v1/ops/availability: platform admins only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from paycore.ops.alerts import BurnRateAlerts, SloStatus, window_label
from paycore.ops.availability import period_of
from paycore.ops.slo import burn_rate, to_ppm
from paycore.security.api import require
from paycore.security.model import Principal
from paycore.web.bodies import JsonRoute

router = APIRouter(prefix="/v1/ops", tags=["ops"], route_class=JsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
ALERTS_PAGE_DEFAULT = 100


def _alerts(request: Request) -> BurnRateAlerts:
    alerts: BurnRateAlerts = request.app.state.runtime.slo_alerts
    return alerts


Alerts = Annotated[BurnRateAlerts, Depends(_alerts)]


@router.get("/slos")
def slos(alerts: Alerts, _admin: Admin) -> dict[str, Any]:
    """Each SLO (and each channel or probe target under one): target, good/total and burn
    rate per window, and which window pairs fire now."""
    firing = {(r["slo"], r["window"]) for r in alerts.firing()}
    return {"data": [_slo_view(s, firing) for s in alerts.status()]}


@router.get("/alerts")
def list_alerts(
    alerts: Alerts,
    _admin: Admin,
    firing: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = ALERTS_PAGE_DEFAULT,
) -> dict[str, Any]:
    """Alerts newest first (`firing=true`: only those firing now)."""
    rows = alerts.firing() if firing else alerts.history(limit=limit)
    return {"data": [_alert_view(r) for r in rows[:limit]]}


@router.get("/availability")
def get_availability(
    alerts: Alerts,
    _admin: Admin,
    date_from: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> dict[str, Any]:
    """Probes that worked over probes made in [from, to) (ISO 8601 with a zone); default:
    the last 7 days."""
    start, end = period_of(date_from, date_to, now=alerts.clock.now())
    return alerts.availability(start=start, end=end).as_dict()


def _slo_view(status: SloStatus, firing: set[tuple[str, str]]) -> dict[str, Any]:
    slo = status.slo
    return {
        "name": slo.name,
        "kind": slo.kind.value,
        "target_ppm": slo.target_ppm,
        "threshold_ms": slo.threshold_ms,
        "description": slo.description,
        "windows": {
            window_label(seconds): {
                "good": counts.good,
                "total": counts.total,
                "burn_rate_ppm": to_ppm(burn_rate(counts, slo)),
            }
            for seconds, counts in status.counts.items()
        },
        "alerts": [
            {
                "window": v.pair.name,
                "severity": v.pair.severity.value,
                "firing": (slo.name, v.pair.name) in firing,
            }
            for v in status.verdicts
        ],
    }


def _alert_view(row: Mapping[str, Any]) -> dict[str, Any]:
    def instant(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": row["id"],
        "slo": row["slo"],
        "window": row["window"],
        "severity": row["severity"],
        "firing": bool(row["firing"]),
        "burn_rate_long_ppm": row["burn_rate_long_ppm"],
        "burn_rate_short_ppm": row["burn_rate_short_ppm"],
        "started_at": instant(row["started_at"]),
        "ended_at": instant(row["ended_at"]),
        "evaluated_at": instant(row["evaluated_at"]),
    }
