"""The work that shares the server's CPU with pay-ins: the webhook relay and the sandbox bank.

CPU per operation (process CPU from /proc or time.process_time), which holds on a shared
machine, beside the rate, which does not:

  relay, skip   N events of a merchant without a webhook URL: one relay drains them
                (claim, skip, settle), as in bench/payments.py whose merchant has none.
  relay, send   N events POSTed signed to a local receiver (its own process), 2xx.
  bank          `paycore sandbox-bank` in its own process, N pay-ins through the real
                SandboxChannel from 16 threads (10% answered at once, the rest by
                callback to a receiver process); the bank's CPU per pay-in including
                its callback.

    .venv/bin/python bench/background.py                        # SQLite and PostgreSQL
    .venv/bin/python bench/background.py --backends sqlite --events 2000 --payins 2000

PostgreSQL at --pg-url (a database named *bench* on 127.0.0.1, dropped and recreated).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, func, select

from common import check_pg_url, free_port, reset_postgres, reset_sqlite
from paycore.channels.model import Payer, PayinRequest
from paycore.channels.sandbox import load_sandbox_channel
from paycore.notifications import store
from paycore.notifications.model import WebhookEndpoint
from paycore.notifications.relay import WebhookRelay
from paycore.notifications.service import enqueue
from paycore.platform.db import make_engine, upgrade
from paycore.security.crypto import FieldCipher

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_background"
DEFAULT_WORK_DIR = "./var/bench/background"
START_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 120.0
CALLBACKS_SETTLE_S = 1.5
"""The bank calls back 0.05-0.5 s after a result: its CPU is read after this pause."""
SENDERS = 16

console = Console(width=None if sys.stdout.isatty() else 150)

RECEIVER = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


@dataclass(frozen=True, slots=True)
class Row:
    backend: str
    scenario: str
    count: int
    per_s: float
    cpu_us: float
    statements: str = ""


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_answering(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def receiver() -> Iterator[str]:
    """A webhook/callback receiver in its own process (its CPU is not counted)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        wait_answering(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        process.terminate()
        process.wait(10)


# -- the relay ---------------------------------------------------------------------------------


def relay_run(backend: str, engine: Engine, events: int, url: str | None) -> Row:
    """Enqueue `events`, then one relay drains them; CPU of this process during the drain."""
    now = datetime.now(UTC)
    cipher = FieldCipher({"bench": os.urandom(32)}, "bench")  # payloads are sealed (0030)
    with engine.begin() as conn:
        for i in range(events):
            payload = {"id": f"pay_{i}", "amount": 10_000, "status": "succeeded"}
            enqueue(conn, cipher=cipher, merchant_id="mch_bench", type="payin.succeeded",
                    object_id=f"pay_{i}", payload=payload, now=now)  # fmt: skip
    statements: dict[str, int] = {}

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.current_thread().name == "bench-relay":
            verb = statement.split(None, 1)[0].upper()
            statements[verb] = statements.get(verb, 0) + 1

    event.listen(engine, "before_cursor_execute", count)
    endpoint = WebhookEndpoint(url, "whsec_bench") if url else None
    relay = WebhookRelay(engine, endpoints=lambda _merchant: endpoint, cipher=cipher)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, 0.2), name="bench-relay")
    cpu, started = time.process_time(), time.monotonic()
    thread.start()
    deadline = started + DRAIN_TIMEOUT_S
    while pending(engine) and time.monotonic() < deadline:
        time.sleep(0.1)  # the polling read costs this process a little CPU too
    stop.set()
    thread.join()
    cpu, wall = time.process_time() - cpu, time.monotonic() - started
    relay.close()
    event.remove(engine, "before_cursor_execute", count)
    per_event = ", ".join(f"{verb} {n / events:.3f}" for verb, n in sorted(statements.items()))
    scenario = "relay, send to a local receiver" if url else "relay, skip (no webhook URL)"
    return Row(backend, scenario, events, events / wall, cpu * 1e6 / events, per_event)


def pending(engine: Engine) -> int:
    d = store.deliveries.c
    with engine.connect() as conn:
        query = select(func.count()).where(d.status == "pending")
        return int(conn.execute(query.select_from(store.deliveries)).scalar_one())


def bench_relay(backend: str, url: str, events: int) -> list[Row]:
    upgrade(url)
    engine = make_engine(url)
    try:
        rows = [relay_run(backend, engine, events, None)]
        with receiver() as hook_url:
            rows.append(relay_run(backend, engine, events, hook_url))
    finally:
        engine.dispose()
    return rows


# -- the sandbox bank --------------------------------------------------------------------------


def bench_bank(work: Path, payins: int) -> Row:
    data_dir = work / "bank"
    port = free_port()
    faults = json.dumps({"sync_rate": 0.1})
    command = [str(Path(sys.executable).parent / "paycore"), "sandbox-bank", "--port", str(port),
               "--data-dir", str(data_dir), "--seed", "1", "--faults", faults]  # fmt: skip
    bank = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(f"{base_url}/health")
        with receiver() as callback_url:
            channel = load_sandbox_channel("bank", base_url, data_dir, timeout_s=10.0)
            expires_at = datetime.now(UTC) + timedelta(hours=1)
            payer = Payer("4111111111111111", "Bench")

            def pay(_: int) -> None:
                reference = f"pay_{uuid.uuid4().hex[:24]}"
                request = PayinRequest(reference, 10_000, "CNY", payer, "bench", expires_at,
                                       callback_url)  # fmt: skip
                channel.pay_in(request)

            with ThreadPoolExecutor(SENDERS) as pool:
                list(pool.map(pay, range(min(200, payins))))  # warm up connections and caches
                time.sleep(CALLBACKS_SETTLE_S)
                cpu, started = process_cpu_s(bank.pid), time.monotonic()
                list(pool.map(pay, range(payins)))
            wall = time.monotonic() - started
            time.sleep(CALLBACKS_SETTLE_S)
            cpu = process_cpu_s(bank.pid) - cpu
            left = httpx.get(f"{base_url}/admin/notifications").json()["pending"]
            if left:
                console.print(f"[yellow]bank: {left} callbacks still pending[/yellow]")
    finally:
        bank.terminate()
        bank.wait(10)
    scenario = "sandbox bank, pay-in + its callback"
    return Row("-", scenario, payins, payins / wall, cpu * 1e6 / payins)


# -- report ------------------------------------------------------------------------------------


def print_table(rows: Sequence[Row], title: str) -> None:
    table = Table(title=title)
    for name in ("backend", "scenario", "count", "per s", "CPU µs each", "SQL per event"):
        table.add_column(name, justify="left" if name in ("backend", "scenario") else "right")
    for r in rows:
        table.add_row(r.backend, r.scenario, f"{r.count:,}", f"{r.per_s:,.0f}",
                      f"{r.cpu_us:,.0f}", r.statements)  # fmt: skip
    console.print(table)
    console.print("\n| backend | scenario | count | per s | CPU µs each | SQL per event |")
    console.print("|---|---|---:|---:|---:|---|")
    for r in rows:
        console.print(f"| {r.backend} | {r.scenario} | {r.count:,} | {r.per_s:,.0f} | "
                      f"{r.cpu_us:,.0f} | {r.statements} |", markup=False)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="dropped and recreated")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR)
    parser.add_argument("--events", type=int, default=3000, help="relay events per scenario")
    parser.add_argument("--payins", type=int, default=3000, help="pay-ins through the bank")
    args = parser.parse_args(argv)
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    machine = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    rows: list[Row] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "postgres":
            url = reset_postgres(check_pg_url(args.pg_url))
        else:
            url = reset_sqlite(work / "relay.db")
        with console.status(f"{backend}: relay"):
            rows += bench_relay(backend, url, args.events)
    with console.status("sandbox bank"):
        rows.append(bench_bank(work, args.payins))
    print_table(rows, f"paycore background work: CPU per operation ({machine})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
