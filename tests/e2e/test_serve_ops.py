"""`paycore serve` running its operations as users run it: one real server process with its
sandbox bank and sandbox finance receiver, the prober measuring availability, the SLOs and
incidents on /metrics, every worker beating a heartbeat, and all of it gone on a clean stop.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select

from paycore.channels.config import DEFAULT_CHANNEL_NAME
from paycore.clock import SystemClock
from paycore.finance.service import WORKER_INTERVAL_S as FINANCE_INTERVAL_S
from paycore.ops.heartbeat import NODE_WORKER
from paycore.ops.model import Thresholds
from paycore.ops.service import OPS_TICK_S
from paycore.ops.sli import FLUSH_INTERVAL_S
from paycore.ops.store_incidents import heartbeats
from paycore.platform.db import make_engine
from paycore.security.model import Scope
from paycore.security.service import ApiKeys
from tests.e2e.processes import (
    answers,
    free_port,
    paycore_serve,
    port_is_open,
    process_is_gone,
    wait_healthy,
    wait_until,
)

PROBE_INTERVAL_S = 1
"""The shortest interval the SLO file accepts: a round of probes every second."""
PROBE_TIMEOUT_S = 0.9
FINANCE_PUSH_INTERVAL_S = 0.5
WITHIN_S = 20.0
"""How long the test waits for a worker to have acted (the SLIs are flushed every 5 s)."""
GONE_WITHIN_S = 10.0
PROBE_TARGETS = {f"payin:{DEFAULT_CHANNEL_NAME}", "health", "read"}
OPS_WORKERS_INTERVAL_S = {
    "slo-prober": PROBE_INTERVAL_S,
    "finance-push": FINANCE_PUSH_INTERVAL_S,
    "sli-flush": FLUSH_INTERVAL_S,
    "ops": OPS_TICK_S,
    "finance": FINANCE_INTERVAL_S,
}
"""The issue's workers and the wait each announces in its heartbeat."""
SLO_FAMILIES = {
    "paycore_sli_events": "counter",
    "paycore_slo_target_ratio": "gauge",
    "paycore_slo_latency_threshold_seconds": "gauge",
    "paycore_slo_burn_rate": "gauge",
    "paycore_slo_alert_firing": "gauge",
}
INCIDENT_FAMILIES = {"paycore_incidents_open": "gauge"}

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")

T = TypeVar("T")


@dataclass
class Serving:
    process: subprocess.Popen[bytes]
    http: httpx.Client
    """On the server, with an admin key."""
    finance_url: str
    engine: Engine
    output: Path


@pytest.fixture
def serving(database_url: str, tmp_path: Path) -> Iterator[Serving]:
    """`paycore serve` with its workers, a probe round every second and pushes every half
    second; the bank and the finance receiver on free ports nothing answered on before."""
    port, bank_port, finance_port = free_port(), free_port(), free_port()
    finance_url = f"http://127.0.0.1:{finance_port}"
    assert not answers(f"{finance_url}/health")
    slo_file = tmp_path / "slo.json"
    probe = {"interval_s": PROBE_INTERVAL_S, "timeout_s": PROBE_TIMEOUT_S}
    slo_file.write_text(json.dumps({"probe": probe}))
    env = {
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "data"),
        "PAYCORE_SANDBOX_URL": f"http://127.0.0.1:{bank_port}",
        "PAYCORE_CHANNELS_FILE": "",
        "PAYCORE_FINANCE_URL": finance_url,
        "PAYCORE_FINANCE_SECRET_FILE": "",
        "PAYCORE_SLO_FILE": str(slo_file),
        "PAYCORE_FINANCE_PUSH_INTERVAL_S": str(FINANCE_PUSH_INTERVAL_S),
        "PAYCORE_WORKERS": "1",
        "PAYCORE_BILLS_PROCESSES": "0",  # bills in the server's threads: two fewer processes
    }
    engine = make_engine(database_url)
    admin = ApiKeys(engine, SystemClock()).issue(merchant_id=None, scopes=[Scope.ADMIN])[1]
    output = tmp_path / "serve.out"
    base_url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {admin}"}
    try:
        with (
            paycore_serve(["--port", str(port)], env=env, output=output) as process,
            httpx.Client(base_url=base_url, headers=headers, timeout=10) as http,
        ):
            wait_healthy(process, f"{base_url}/healthz", output)
            wait_healthy(process, f"http://127.0.0.1:{bank_port}/health", output)
            wait_healthy(process, f"{finance_url}/health", output)
            yield Serving(process, http, finance_url, engine, output)
    finally:
        engine.dispose()


def test_serve_probes_and_beats_without_counting_probes_as_orders_and_stops_cleanly(
    serving: Serving,
) -> None:
    receiver_pid = _child_pid(serving.process.pid, "paycore.sandbox_finance")

    targets = _eventually(lambda: _probed_targets(serving.http), serving.output)
    slos = _eventually(lambda: _flushed_probe_slos(serving.http), serving.output)
    metrics = serving.http.get("/metrics")
    beats = _eventually(lambda: _waiting_workers(serving), serving.output)
    report = serving.http.get(f"/v1/ops/reports/weekly/{_this_week()}.json")
    first_beat_at = beats["slo-prober"]["beat_at"]
    _eventually(lambda: _waiting_workers(serving, after=first_beat_at), serving.output)
    serving.process.send_signal(signal.SIGTERM)
    serving.process.wait(timeout=GONE_WITHIN_S * 2)

    assert {t["target"] for t in targets} >= PROBE_TARGETS
    assert all(t["good"] == t["total"] > 0 for t in targets), targets
    assert {s["name"] for s in slos} == {f"probe:{target}" for target in PROBE_TARGETS}
    for slo in slos:
        assert slo["windows"]["5m"]["good"] == slo["windows"]["5m"]["total"] > 0, slo
        assert slo["windows"]["5m"]["burn_rate_ppm"] == 0, slo
        assert not any(alert["firing"] for alert in slo["alerts"]), slo
    _assert_metrics_show_the_slos_and_incidents(metrics)
    for name, interval_s in OPS_WORKERS_INTERVAL_S.items():
        assert beats[name]["interval_ms"] == int(interval_s * 1000), beats[name]
    assert all(beat["restarts"] == 0 and beat["last_error"] == "" for beat in beats.values())
    assert beats[NODE_WORKER]["interval_ms"] == int(Thresholds().node_beat_every_s * 1000)
    assert wait_until(lambda: process_is_gone(receiver_pid), timeout_s=GONE_WITHIN_S)
    assert not port_is_open(int(serving.finance_url.rsplit(":", 1)[1]))
    assert _heartbeat_rows(serving.engine, pid=serving.process.pid) == []
    # No merchant paid anything: the prober's synthetic pay-ins are not business traffic.
    assert report.status_code == 200, report.text
    payin = next(p for p in report.json()["products"] if p["kind"] == "payin")
    assert (payin["orders"], payin["succeeded"]) == (0, 0), "probe pay-ins counted as orders"


def _assert_metrics_show_the_slos_and_incidents(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    families = list(text_string_to_metric_families(response.text))
    types = {family.name: family.type for family in families}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }

    assert {**SLO_FAMILIES, **INCIDENT_FAMILIES}.items() <= types.items()
    for target in PROBE_TARGETS:
        sli = f"probe:{target}"
        assert samples[("paycore_sli_events_total", (("result", "good"), ("sli", sli)))] >= 1
        assert samples[("paycore_sli_events_total", (("result", "bad"), ("sli", sli)))] == 0
        for window in ("5m", "1h"):
            labels = (("slo", sli), ("window", window))
            assert samples[("paycore_slo_burn_rate", labels)] == 0
    assert samples[("paycore_slo_target_ratio", (("slo", "success:payin"),))] == 0.9999
    assert samples[("paycore_slo_target_ratio", (("slo", "success:payout"),))] == 0.9995
    assert samples[("paycore_slo_target_ratio", (("slo", "api_availability"),))] == 0.9999


# -- what the test reads ------------------------------------------------------------------


def _eventually(read: Callable[[], T | None], output: Path) -> T:
    """`read()` once it returns something, polled until WITHIN_S."""
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        found = read()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not seen within {WITHIN_S} s; serve said: {output.read_text()[-3000:]}")


def _probed_targets(http: httpx.Client) -> list[dict[str, Any]] | None:
    """GET /v1/ops/availability's targets, once every probe target has a probe."""
    response = http.get("/v1/ops/availability")
    assert response.status_code == 200, response.text
    targets: list[dict[str, Any]] = response.json()["targets"]
    probed = {t["target"] for t in targets if t["total"] > 0}
    return targets if probed >= PROBE_TARGETS else None


def _flushed_probe_slos(http: httpx.Client) -> list[dict[str, Any]] | None:
    """GET /v1/ops/slos's per-target probe SLOs, once the flusher has written every one."""
    response = http.get("/v1/ops/slos")
    assert response.status_code == 200, response.text
    names = {f"probe:{target}" for target in PROBE_TARGETS}
    slos = [s for s in response.json()["data"] if s["name"] in names]
    flushed = {s["name"] for s in slos if s["windows"]["5m"]["total"] > 0}
    return slos if flushed == names else None


def _waiting_workers(
    serving: Serving, *, after: datetime | None = None
) -> dict[str, dict[str, Any]] | None:
    """This server's heartbeat rows by worker, once every ops worker has waited at least
    once (its row then holds its wait) and, if `after`, the prober beat since then."""
    rows = {r["worker"]: r for r in _heartbeat_rows(serving.engine, pid=serving.process.pid)}
    if not all(rows.get(name, {}).get("interval_ms", -1) > 0 for name in OPS_WORKERS_INTERVAL_S):
        return None
    if after is not None and rows["slo-prober"]["beat_at"] <= after:
        return None
    return rows


def _this_week() -> str:
    """The ISO week of today in the business time zone (PaymentsContext's default)."""
    year, week, _day = datetime.now(BUSINESS_ZONE).isocalendar()
    return f"{year}-W{week:02d}"


def _heartbeat_rows(engine: Engine, *, pid: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(heartbeats).where(heartbeats.c.pid == pid))
        return [dict(row._mapping) for row in found]


def _child_pid(parent_pid: int, module: str) -> int:
    """The pid of `parent_pid`'s child running `python -m <module>`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == parent_pid and module.encode() in command:
            return int(proc.name)
    raise AssertionError(f"no child of {parent_pid} runs {module}")
