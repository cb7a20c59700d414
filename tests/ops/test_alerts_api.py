"""The SLOs and their alerts over HTTP and on /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine
from typer.testing import CliRunner

from paycore.clock import ManualClock
from paycore.ops import store
from paycore.ops.alerts import BurnRateAlerts
from paycore.ops.cli_slo import slo_app
from paycore.ops.metrics import SloCollector
from paycore.ops.sli import SliRecorder, minute_of
from paycore.runtime import Runtime


def burn_the_api(engine: Engine, clock: ManualClock) -> None:
    """Ten minutes of one request in two failing."""
    last = minute_of(clock.now())
    rows = [
        {"sli": "api_availability", "node": "n1", "good": 50, "total": 100}
        | {"minute_at": last - timedelta(minutes=i)}
        for i in range(10)
    ]
    with engine.begin() as conn:
        store.add_sli_minutes(conn, rows)


def test_the_slos_route_shows_targets_burn_per_window_and_what_fires(
    ops_client: TestClient, runtime: Runtime, clock: ManualClock
) -> None:
    burn_the_api(runtime.engine, clock)
    BurnRateAlerts(runtime.engine, clock).evaluate()
    answer = ops_client.get("/v1/ops/slos")
    assert answer.status_code == 200, answer.text
    slos = {s["name"]: s for s in answer.json()["data"]}
    api = slos["api_availability"]
    assert api["target_ppm"] == 999_900
    assert api["windows"]["5m"] == {"good": 250, "total": 500, "burn_rate_ppm": 5000 * 10**6}
    assert all(a["firing"] for a in api["alerts"])
    assert not any(a["firing"] for a in slos["success:payin"]["alerts"])
    assert slos["latency:payments"]["threshold_ms"] == 500


def test_the_alerts_route_lists_firing_and_ended_alerts(
    ops_client: TestClient, runtime: Runtime, clock: ManualClock
) -> None:
    burn_the_api(runtime.engine, clock)
    alerts = BurnRateAlerts(runtime.engine, clock)
    alerts.evaluate()
    clock.advance(4 * 86400)  # the windows pass without traffic: the alerts end
    alerts.evaluate()
    burn_the_api(runtime.engine, clock)
    clock.advance(60)  # windows of an hour or more are read again at most once a minute
    alerts.evaluate()
    every = ops_client.get("/v1/ops/alerts").json()["data"]
    firing = ops_client.get("/v1/ops/alerts", params={"firing": "true"}).json()["data"]
    assert len(every) == 8 and len(firing) == 4
    assert all(a["firing"] and a["ended_at"] is None for a in firing)
    assert sum(1 for a in every if a["ended_at"] is not None) == 4


def test_the_slo_routes_are_for_admins_only(ops_client: TestClient, runtime: Runtime) -> None:
    merchant, _ = runtime.merchants.create(name="shop")
    _key, clear = runtime.api_keys.issue(merchant_id=merchant.id)
    merchant_auth = {"Authorization": f"Bearer {clear}"}
    assert ops_client.get("/v1/ops/slos", headers=merchant_auth).status_code == 403
    assert ops_client.get("/v1/ops/alerts", headers=merchant_auth).status_code == 403


def test_metrics_expose_the_counters_targets_burn_rates_and_firing_alerts(
    runtime: Runtime, clock: ManualClock, recorder: SliRecorder
) -> None:
    recorder.record("api_availability", good=True)
    recorder.record("api_availability", good=False)
    burn_the_api(runtime.engine, clock)
    alerts = BurnRateAlerts(runtime.engine, clock, recorder=recorder)
    alerts.evaluate()
    registry = CollectorRegistry()
    registry.register(SloCollector(alerts, recorder))
    text = generate_latest(registry).decode()
    for line in (
        'paycore_sli_events_total{result="good",sli="api_availability"} 1.0',
        'paycore_sli_events_total{result="bad",sli="api_availability"} 1.0',
        'paycore_slo_target_ratio{slo="success:payout"} 0.9995',
        'paycore_slo_burn_rate{slo="api_availability",window="5m"} 5000.0',
        'paycore_slo_alert_firing{severity="page",slo="api_availability",window="1h/5m"} 1.0',
        'paycore_slo_alert_firing{severity="page",slo="success:payin",window="1h/5m"} 0.0',
        'paycore_slo_latency_threshold_seconds{slo="latency:ledger"} 0.2',
    ):
        assert line in text, line


def test_paycore_slo_status_prints_each_slo_and_what_fires(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    # The CLI's clock is the system's: the burn is written where it is now.
    now_clock = ManualClock(datetime.now(UTC))
    burn_the_api(runtime.engine, now_clock)
    BurnRateAlerts(runtime.engine, now_clock).evaluate()
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path),
        "PAYCORE_BILLS_PROCESSES": "0",
        "COLUMNS": "200",
    }
    printed = CliRunner().invoke(slo_app, ["status"], env=env)
    assert printed.exit_code == 0, printed.output
    api_line = next(line for line in printed.output.splitlines() if "api_availability" in line)
    assert "5000.00" in api_line and "1h/5m 6h/30m 1d/2h 3d/6h" in api_line
    assert "success:payin" in printed.output
