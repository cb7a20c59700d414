"""The bills benchmark's steps over HTTP: the bill page, and the month-end storm against
`paycore serve` on the generated database (bench/bills_storm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bills_data as data
from bills_steps import PAGE_GOAL_MS, STORM_GOAL, Context, Row, Series, months, verdict
from paycore.platform.lifeline import start_child
from proc_cpu import CpuMeter

_row = Row


# -- the page a person reads ---------------------------------------------------------------------


def page(ctx: Context) -> list[Row]:
    """GET /v1/bills/{merchant}/{month}.html with the merchant's key, in process (ASGI)."""
    from fastapi.testclient import TestClient

    from paycore.bills import admission
    from paycore.web.app import create_app

    _, key = ctx.rt.api_keys.issue(merchant_id=data.MERCHANT)
    headers = {"Authorization": f"Bearer {key}"}
    refused = 0
    app = create_app(runtime=ctx.rt)
    admission.install(app)  # a no-op once web/app.py installs it itself
    with TestClient(app) as client:

        def get(month: str, series: Series | None = None) -> None:
            """One page; a 429 is waited out and asked again, only the answer is timed."""
            nonlocal refused
            for _ in range(20):
                wall, cpu = time.perf_counter(), time.process_time()
                response = client.get(f"/v1/bills/{data.MERCHANT}/{month}.html", headers=headers)
                if response.status_code != 429:
                    break
                refused += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
            if response.status_code != 200 or "<html" not in response.text[:500].lower():
                raise RuntimeError(f"page {month}: {response.status_code} {response.text[:200]}")
            if series is not None:
                series.walls.append(time.perf_counter() - wall)
                series.cpus.append(time.process_time() - cpu)

        get(data.MONTHS[-1])  # warm-up: templates, fonts, the first statement
        series = Series(ctx)
        for month in months(ctx.args.pages)[::-1]:
            get(month, series)
        series.done()
    p99 = series.ms(99)
    note = f"; {refused} answers 429 waited out" if refused else ""
    return [_row(f"the bill page (HTML over HTTP), {len(series.walls)} calls over 12 months",
                 f"p50 {series.ms(50):.0f} ms, p99 {p99:.0f} ms{note}", series.cpu_text("page"),
                 goal="< 500 ms", verdict=verdict(p99 < PAGE_GOAL_MS))]  # fmt: skip


# -- the month-end storm ---------------------------------------------------------------------


def storm(ctx: Context) -> list[Row]:
    """bench/bills_storm.py against `paycore serve` on this very database: pay-ins of
    another merchant through a sandbox bank, 200 bill readers of the generated merchant."""
    if ctx.args.no_storm:
        return [_row("storm (200 bills during pay-ins)", "skipped (--no-storm)")]
    import bills_storm
    import payments_setup as setup

    work = Path(ctx.args.report).parent / f"bills-storm-{ctx.backend}"
    work.mkdir(parents=True, exist_ok=True)
    bank = setup.Bank("bank-a", 7, work)
    try:
        env = _storm_site(ctx, setup, bank, work)
        payin_merchant = f"mch_storm_{time.time_ns() // 1_000_000}"  # new on every run
        setup.run_cli(["merchants", "create", "--name", "Storm", "--id", payin_merchant], env)
        payin_key = _key(setup, env, payin_merchant)
        bills_key = _key(setup, env, data.MERCHANT)
        workers = 2 if ctx.backend == "postgres" else 1
        server = _serve(env, workers, work / "serve.log")
        try:
            server.wait_answering(f"http://127.0.0.1:{server.port}/healthz")
            server.wait_workers_settled()
            meter = CpuMeter({"server": server.pids})
            result = bills_storm.run_storm(
                bills_storm.Storm(
                    port=server.port,
                    payin_key=payin_key,
                    targets=[bills_storm.BillTarget(bills_key, data.MERCHANT)],
                    month=data.MONTHS[-1],
                )
            )
            server_s = meter.spent()["server"].total_s
        finally:
            server.stop()
    finally:
        bank.stop()
    ctx.console.print(result.line())
    unexpected = result.unexpected_bills()
    ok = result.ratio <= STORM_GOAL and not result.payin_errors and not unexpected
    bills = ", ".join(f"{s}: {n}" for s, n in sorted(result.bill_statuses.items()))
    return [_row("storm: pay-in p99 during 200 concurrent bills / before",
                 f"{result.ratio:.2f} (p99 {result.p99_before_s * 1000:.1f} -> "
                 f"{result.p99_during_s * 1000:.1f} ms); pay-in errors {len(result.payin_errors)};"
                 f" bills {bills}",
                 f"server {server_s:.0f} s over the run", goal="<= 1.2, no pay-in error, "
                 "bills 200 or 429", verdict=verdict(ok))]  # fmt: skip


def _storm_site(ctx: Context, setup: Any, bank: Any, work: Path) -> dict[str, str]:
    """The environment of every paycore process of the storm: this database, one bank."""
    channels = work / "channels.json"
    channels.write_text(json.dumps(setup.channels_config([bank]), indent=2))
    return dict(
        os.environ,
        PAYCORE_DATABASE_URL=ctx.url,
        PAYCORE_DATA_DIR=str(work / "data"),
        PAYCORE_CHANNELS_FILE=str(channels),
    )


def _key(setup: Any, env: dict[str, str], merchant: str) -> str:
    command = ["keys", "create", "--merchant", merchant, "--label", "storm", "-q"]
    return str(setup.run_cli(command, env)).strip()


SERVE = (
    # As tests/bills/test_storm.py does until web/app.py calls admission.install(app)
    # itself (then this is a no-op): admission's refusals are answered 429/503.
    "import paycore.web.app as web\n"
    "from paycore.bills import admission\n"
    "made = web.create_app\n"
    "def create_app(*args, **kwargs):\n"
    "    app = made(*args, **kwargs)\n"
    "    admission.install(app)\n"
    "    return app\n"
    "web.create_app = create_app\n"
    "from paycore.cli import main\n"
    "main()\n"
)


def _serve(env: dict[str, str], workers: int, log: Path) -> Any:
    """`paycore serve` (with admission installed) on a free port, as payments_setup runs it."""
    import payments_setup as setup
    from common import free_port

    class Server(setup.Server):
        def __init__(self) -> None:
            self.port = free_port()
            self.base_url = f"http://127.0.0.1:{self.port}"
            self.workers = workers
            self.name = "paycore serve"
            self.log_path = log
            args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
            args += ["--workers", str(workers), "--no-sandbox"]
            command = [sys.executable, "-c", SERVE, *args]
            with log.open("wb") as out:
                self.proc = start_child(
                    command, env=dict(env, PAYCORE_PUBLIC_URL=self.base_url), stdout=out,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip

    return Server()
