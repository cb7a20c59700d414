"""The month-end storm against a real `paycore serve`: 200 concurrent heavy bill requests
while pay-ins run (bench/bills_storm.py, one short round). Pay-ins see no error; every bill
is 200 or 429; the reports pool is never exhausted; bills are computed in niced worker
processes (bills/workers.py), not the server's. How much the pay-ins' p99 moves is the
bench's to print (`python bench/bills_storm.py`), not a test's to time."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from paycore.bills.workers import WORKER_NICE
from paycore.runtime import Runtime
from tests.e2e.processes import STOP_TIMEOUT_S, free_port, wait_healthy

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from bills_storm import BillTarget, Storm, run_storm  # noqa: E402

MERCHANTS = 10
PROCESSES = 2
SERVE = "from paycore.cli import main\nmain()\n"
STARTED = re.compile(r"bill worker started pid=(\d+) nice=(\d+)")


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen[bytes]
    port: int
    output: Path


@pytest.fixture
def keys(runtime: Runtime) -> list[BillTarget]:
    targets = []
    for n in range(MERCHANTS):
        merchant, _secret = runtime.merchants.create(name=f"Storm {n}", merchant_id=f"mch_st{n}")
        _key, clear = runtime.api_keys.issue(merchant_id=merchant.id, label="storm")
        targets.append(BillTarget(clear, merchant.id))
    return targets


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = {
        **os.environ,
        "PAYCORE_DATABASE_URL": database_url,
        "PAYCORE_DATA_DIR": str(tmp_path / "data"),
        "PAYCORE_SANDBOX_URL": f"http://127.0.0.1:{free_port()}",
        "PAYCORE_FINANCE_URL": f"http://127.0.0.1:{free_port()}",
        "PAYCORE_BILLS_PROCESSES": str(PROCESSES),
    }
    output = tmp_path / "serve.out"
    command = [sys.executable, "-c", SERVE, "serve", "--port", str(port)]
    with output.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_healthy(process, f"http://127.0.0.1:{port}/healthz", output)
            yield Served(process, port, output)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def nice_of(pid: int) -> int:
    """The niceness of a live process (field 19 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.slow
def test_a_month_end_storm_of_bills_leaves_pay_ins_alone_and_gets_200_or_429(
    keys: list[BillTarget], server: Served
) -> None:
    process, port, output = server.process, server.port, server.output
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    storm = Storm(port=port, payin_key=keys[0].key, targets=keys, month=month, rounds=1)
    result = run_storm(storm)
    print(result.line())  # the bench quotes the same line; the ratio is the bench's
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    workers = [int(pid) for pid, _nice in STARTED.findall(output.read_text(errors="replace"))]
    nices = {pid: nice_of(pid) for pid in workers if Path(f"/proc/{pid}").exists()}
    log = output.read_text(errors="replace")

    assert result.payin_errors == []
    assert result.before and result.during
    assert result.unexpected_bills() == {}, result.bill_errors[:5]
    assert result.bill_statuses[200] > 0 and result.bill_statuses[429] > 0
    assert set(result.bill_codes) <= {"bills_busy", "bills_rate_limited"}
    assert "reports pool exhausted" not in log
    for exhausted in ("paycore_reports_pool_waits_total", "paycore_reports_pool_timeouts_total"):
        found = re.search(rf"^{exhausted} (\S+)$", metrics, re.MULTILINE)
        assert found is None or float(found.group(1)) == 0
    computed = re.search(r"^paycore_bills_worker_calls_total (\S+)$", metrics, re.MULTILINE)
    assert computed is not None and float(computed.group(1)) > 0
    assert len(nices) == PROCESSES and process.pid not in nices
    assert all(nice >= min(19, nice_of(process.pid) + WORKER_NICE) for nice in nices.values())
