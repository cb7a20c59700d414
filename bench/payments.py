"""Payments benchmark: pay-ins end to end through the HTTP API against the sandbox bank.

Real processes, as in production: two sandbox banks (`paycore sandbox-bank`, bank-a and
bank-b, each with its own data dir and port, no faults, 10% of results in the answer and
the rest by callback 0.05-0.5 s later), `paycore serve --workers N` routing every product
to bank-a (priority 1) and bank-b (priority 2) with the default breaker, a fresh database
migrated by `paycore db upgrade`, a merchant and its API key made by the CLI.

  throughput  `--clients` concurrent clients POST /v1/payins, each with its own
              Idempotency-Key, for `--seconds` (wrk when installed, else an asyncio client).
              requests/s and p50/p99 of the POST; end-to-end orders/s = orders that reached
              `succeeded` (after the bank's callback) / (last finished_at - first created_at).
              PostgreSQL runs with 1 and 2 workers and keeps the better; SQLite with 1.
  failover    open-loop load at half the throughput measured; then bank-a starts hanging
              (PUT /admin/faults {"hang": true, "hang_min_s": 5, "hang_max_s": 10}).
              failover s = from that PUT until every later request is answered by bank-b.
              Orders left result-unknown on bank-a must resolve once it answers again
              (hang off; the bank finishes the stalled requests and calls back).

Every order must end `succeeded` and `paycore ledger check` must pass after each backend.
Beside each throughput run: CPU ms per order of the server, the banks and PostgreSQL (from
/proc), and PostgreSQL's transactions and rows per order. `--profile` adds one throughput
run with py-spy (`--gil`) on the server workers and bank-a and prints where the CPU goes.
Logs, the banks' data and the SQLite database stay in --work-dir for a look afterwards.

    .venv/bin/python bench/payments.py                     # both backends, about 2 minutes
    .venv/bin/python bench/payments.py --backends sqlite --seconds 5 --profile

PostgreSQL must be reachable at --pg-url (a database named *bench* on 127.0.0.1, which is
dropped and recreated). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import URL, make_url

from common import check_pg_url, free_port, psycopg_dsn
from paycore.channels.health import BreakerPolicy
from paycore.platform.db import make_engine
from paycore.platform.lifeline import start_child
from paycore.tables import metadata

orders = metadata.tables["payment_orders"]
idempotency_keys = metadata.tables["idempotency_keys"]

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_payments"
DEFAULT_WORK_DIR = "./var/bench/payments"
MERCHANT_ID = "mch_bench"
CARD_NUMBER = "4111111111111111"  # passes the bank's Luhn check
BANKS = ("bank-a", "bank-b")
BANK_FAULTS = {"sync_rate": 0.1}  # the default mix: no faults, 10% of results in the answer
HANG = {"hang": True, "hang_min_s": 5.0, "hang_max_s": 10.0}
TARGET_ORDERS_S = 1_000.0
TARGET_P99_MS = 100.0
TARGET_FAILOVER_S = 5.0

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
CLI_TIMEOUT_S = 120.0
RESOLVE_TIMEOUT_S = 30.0
"""How long after the load stops the orders may take to become final."""
HTTP_TIMEOUT_S = 30.0
WARMUP_REQUESTS = 20
FAILOVER_STEADY_S = 3.0
FAILOVER_OBSERVE_S = 7.0
FAILOVER_RATE_MIN, FAILOVER_RATE_MAX = 10.0, 500.0
IN_FLIGHT_MAX = 512
CHANNELS_POLL_S = 0.1
KEEPALIVE_S = 4.0
"""The load generator reuses a connection idle for less than this: uvicorn closes it at 5 s."""
PROFILE_RATE = "100"  # samples a second
PROFILE_ROWS = 15
FINAL = frozenset({"succeeded", "failed", "closed"})

console = Console(width=None if sys.stdout.isatty() else 150)


# -- processes -------------------------------------------------------------------------------


def paycore_command() -> list[str]:
    script = Path(sys.executable).parent / "paycore"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from paycore.cli import main; main()"]


def run_cli(args: Sequence[str], env: dict[str, str]) -> str:
    """One `paycore ...` command; its stdout, or RuntimeError with its stderr."""
    done = subprocess.run(
        [*paycore_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        command = " ".join(args)
        raise RuntimeError(f"paycore {command}: exit {done.returncode}: {done.stderr[-500:]}")
    return done.stdout


class Process:
    """A `paycore` subprocess on a free port, its output in a log file."""

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        with log.open("wb") as out:
            # A lifeline: servers and banks stop with this benchmark, even when it is killed.
            self.proc = start_child(
                [*paycore_command(), *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_answering(self, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(url).status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not answering {url} after {START_TIMEOUT_S:.0f} s")

    def pids(self) -> list[int]:
        """The process and its children (uvicorn's workers)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [self.proc.pid, *map(int, children.read_text().split())]
        except OSError:
            return [self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Bank(Process):
    def __init__(self, name: str, seed: int, work: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.data_dir = work / name
        args = ["sandbox-bank", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        args += ["--seed", str(seed), "--faults", json.dumps(BANK_FAULTS)]
        super().__init__(name, args, dict(os.environ), work / f"{name}.log")
        self.wait_answering(f"{self.base_url}/health")

    def set_faults(self, changes: dict[str, Any]) -> None:
        response = httpx.put(
            f"{self.base_url}/admin/faults", json=changes, timeout=5.0, trust_env=False
        )
        response.raise_for_status()


@dataclass
class Site:
    """One backend's database, settings and keys; `env` is what every paycore process gets."""

    backend: str
    url: str  # SQLAlchemy URL, as PAYCORE_DATABASE_URL takes it
    version: str
    work: Path
    env: dict[str, str] = field(default_factory=dict)
    merchant_key: str = ""
    admin_key: str = ""

    def prepare(self, banks: Sequence[Bank]) -> None:
        channels_file = self.work / "channels.json"
        channels_file.write_text(json.dumps(channels_config(banks), indent=2))
        self.env = dict(
            os.environ,
            PAYCORE_DATABASE_URL=self.url,
            PAYCORE_DATA_DIR=str(self.work / "data"),
            PAYCORE_CHANNELS_FILE=str(channels_file),
        )
        run_cli(["db", "upgrade"], self.env)
        run_cli(["merchants", "create", "--name", "Bench", "--id", MERCHANT_ID], self.env)
        self.merchant_key = run_cli(
            ["keys", "create", "--merchant", MERCHANT_ID, "--label", "bench", "-q"], self.env
        ).strip()
        self.admin_key = run_cli(
            ["keys", "create", "--scope", "admin", "--label", "bench", "-q"], self.env
        ).strip()


def channels_config(banks: Sequence[Bank]) -> dict[str, Any]:
    """Every product to bank-a first, bank-b second; default timeout and breaker."""
    return {
        "channels": [
            {"name": b.name, "type": "sandbox", "base_url": b.base_url, "data_dir": str(b.data_dir)}
            for b in banks
        ],
        "routes": [
            {
                "product": "*",
                "candidates": [{"channel": b.name, "priority": i + 1} for i, b in enumerate(banks)],
            }
        ],
    }


class Server(Process):
    def __init__(self, site: Site, workers: int, tag: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        env = dict(site.env, PAYCORE_PUBLIC_URL=self.base_url)
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--workers", str(workers), "--no-sandbox"]
        super().__init__("paycore serve", args, env, site.work / f"serve-{tag}.log")

    def worker_pids(self) -> list[int]:
        pids = self.pids()
        return pids[1:] if len(pids) > 1 else pids


@contextlib.contextmanager
def serving(site: Site, workers: int, tag: str) -> Iterator[Server]:
    server = Server(site, workers, tag)
    try:
        with console.status(f"{site.backend}: starting paycore serve --workers {workers}"):
            server.wait_answering(f"{server.base_url}/healthz")
        yield server
    except Exception:
        console.print(f"[dim]{server.log_tail()}[/dim]")
        raise
    finally:
        with console.status(f"{site.backend}: stopping paycore serve"):
            server.stop()


# -- a small HTTP/1.1 client: the load generator shares 2 cores with everything else ------


class Connection:
    """One keep-alive HTTP/1.1 connection; answers must carry Content-Length (uvicorn's do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        content = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection") == "close":
            self.close()
        self.idle_since = time.monotonic()
        return status, content

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True, slots=True)
class Sample:
    started: float  # perf_counter
    latency_s: float
    status: int  # HTTP status; 0 when the request itself failed
    channel: str | None = None
    result_unknown: bool = False
    error: str | None = None


class PayinClient:
    """POST /v1/payins with a new Idempotency-Key each time, over pooled connections."""

    def __init__(self, port: int, api_key: str, product: str) -> None:
        self.port = port
        self.product = product
        self.run_id = uuid.uuid4().hex[:8]
        self.auth = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.idle: list[Connection] = []
        self.count = 0

    async def _connection(self) -> tuple[Connection, bool]:
        """An idle connection the server has not closed yet, else a new one; and whether
        it was reused (uvicorn closes a connection idle for 5 s)."""
        while self.idle:
            conn = self.idle.pop()
            if time.monotonic() - conn.idle_since < KEEPALIVE_S and not conn.closed:
                return conn, True
            conn.close()
        return await Connection.open(self.port), False

    async def pay_in(self) -> Sample:
        self.count += 1
        body = json.dumps(
            {
                "product": self.product,
                "amount": 100 + self.count % 100_000,
                "currency": "CNY",
                "payer": {"card_number": CARD_NUMBER},
            }
        ).encode()
        headers = {**self.auth, "Idempotency-Key": f"{self.run_id}-{self.count}"}
        started = time.perf_counter()
        try:
            status, content = await self._post(headers, body)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            return Sample(started, time.perf_counter() - started, 0, error=type(exc).__name__)
        latency = time.perf_counter() - started
        if status != 201:
            return Sample(started, latency, status, error=content[:200].decode(errors="replace"))
        view = json.loads(content)
        return Sample(started, latency, status, view.get("channel"), bool(view["result_unknown"]))

    async def _post(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """POST /v1/payins; again on a new connection if a reused one was closed under us
        (with the same Idempotency-Key, the retry cannot pay twice)."""
        conn, reused = await self._connection()
        while True:
            try:
                status, content = await asyncio.wait_for(
                    conn.request("POST", "/v1/payins", headers, body), HTTP_TIMEOUT_S
                )
            except (OSError, asyncio.IncompleteReadError):
                conn.close()
                if not reused:
                    raise
                conn, reused = await Connection.open(self.port), False
                continue
            except BaseException:
                conn.close()
                raise
            if not conn.closed:
                self.idle.append(conn)
            return status, content

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


async def closed_loop(client: PayinClient, clients: int, seconds: float) -> list[Sample]:
    samples: list[Sample] = []
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        while time.perf_counter() < deadline:
            samples.append(await client.pay_in())

    await asyncio.gather(*(one() for _ in range(clients)))
    return samples


async def open_loop(client: PayinClient, rate: float, stop: asyncio.Event) -> list[Sample]:
    """`rate` pay-ins a second on a fixed schedule, whatever the answers, until `stop`."""
    samples: list[Sample] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one() -> None:
        samples.append(await client.pay_in())

    start = time.perf_counter()
    n = 0
    while not stop.is_set():
        due = start + n / rate
        now = time.perf_counter()
        if due > now:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), due - now)
            continue
        if len(tasks) < IN_FLIGHT_MAX:
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        n += 1
    if tasks:
        await asyncio.wait(tasks, timeout=HTTP_TIMEOUT_S)
    return samples


async def one_payin(server: Server, site: Site, product: str) -> str:
    client = PayinClient(server.port, site.merchant_key, product)
    sample = await client.pay_in()
    client.close()
    return f"HTTP {sample.status} {sample.error or ''}"


def warm_up(server: Server, site: Site) -> None:
    async def go() -> None:
        client = PayinClient(server.port, site.merchant_key, "warmup")
        for _ in range(WARMUP_REQUESTS):
            sample = await client.pay_in()
            if sample.status != 201:
                raise RuntimeError(f"warm-up pay-in answered {sample.status}: {sample.error}")
        client.close()

    asyncio.run(go())


# -- measurement ----------------------------------------------------------------------------


def percentile_ms(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of seconds, in ms (0.0 when there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] * 1000


@dataclass
class OrderStats:
    by_status: Counter[str]
    first_created_at: float | None  # epoch seconds
    last_finished_at: float | None
    unknown: int  # orders first answered result_unknown (timeout, dropped connection, 5xx)
    unknown_open: int  # ... and still not final

    @property
    def unknown_cell(self) -> str:
        return f"{self.unknown} → {self.unknown - self.unknown_open} resolved"

    @property
    def open(self) -> int:
        return sum(n for status, n in self.by_status.items() if status not in FINAL)

    @property
    def not_succeeded(self) -> int:
        return sum(n for status, n in self.by_status.items() if status != "succeeded")


def order_stats(engine: Engine, product: str) -> OrderStats:
    query = (
        select(
            orders.c.status,
            func.count(),
            func.min(orders.c.created_at),
            func.max(orders.c.finished_at),
        )
        .where(orders.c.product == product)
        .group_by(orders.c.status)
    )
    # The stored answer to the POST keeps what the merchant was told: result_unknown or not.
    answers = (
        select(orders.c.status, idempotency_keys.c.response)
        .select_from(orders.join(idempotency_keys, idempotency_keys.c.object_id == orders.c.id))
        .where(orders.c.product == product)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        unknown = [status for status, answer in conn.execute(answers) if _was_unknown(answer)]
    firsts = [r[2].timestamp() for r in rows if r[2] is not None]
    lasts = [r[3].timestamp() for r in rows if r[3] is not None]
    return OrderStats(
        Counter({str(r[0]): int(r[1]) for r in rows}),
        min(firsts) if firsts else None,
        max(lasts) if lasts else None,
        len(unknown),
        sum(1 for status in unknown if status not in FINAL),
    )


def _was_unknown(answer: Any) -> bool:
    view = json.loads(answer) if isinstance(answer, str | bytes) else answer
    return isinstance(view, dict) and bool(view.get("result_unknown"))


def wait_resolved(engine: Engine, product: str, timeout_s: float = RESOLVE_TIMEOUT_S) -> OrderStats:
    deadline = time.monotonic() + timeout_s
    while True:
        stats = order_stats(engine, product)
        if stats.open == 0 or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


KERNEL = "paycore serve, system time"


class CpuMeter:
    """CPU seconds per component over a run, from /proc (Linux; empty elsewhere)."""

    def __init__(self, groups: dict[str, list[int]], database: str | None) -> None:
        self.groups = groups
        self.database = database
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.before = self._read()

    def _cpu(self, pid: int, *, kernel: bool = False) -> float:
        """User and system time of a process, or only its system time."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[12]) + (0 if kernel else int(fields[11]))) / self.tick

    def _postgres_pids(self) -> list[int]:
        if not self.database:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    cmdline = (entry / "cmdline").read_bytes()
                    mine = f" {self.database} ".encode() in cmdline
                    if cmdline.startswith(b"postgres:") and mine:
                        pids.append(int(entry.name))
        return pids

    def _read(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, pids in self.groups.items():
            values[name] = sum(map(self._cpu, pids))
            if name == "paycore serve":
                values[KERNEL] = sum(self._cpu(p, kernel=True) for p in pids)
        values["postgres"] = sum(map(self._cpu, self._postgres_pids()))
        try:
            parts = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
            jiffies = [int(x) for x in parts]
            values["whole machine"] = (sum(jiffies) - jiffies[3] - jiffies[4]) / self.tick
        except (OSError, ValueError, IndexError):
            values["whole machine"] = 0.0
        return values

    def per_order_ms(self, orders_done: int) -> dict[str, float]:
        after = self._read()
        if orders_done <= 0:
            return {}
        spent = {k: after[k] - self.before.get(k, 0.0) for k in after}
        # /proc/stat counts every CPU: the rest is the machine minus what was measured above.
        measured = sum(v for k, v in spent.items() if k not in ("whole machine", KERNEL))
        spent["rest (load generator, other programs)"] = spent["whole machine"] - measured
        return {k: v * 1000 / orders_done for k, v in spent.items()}


PG_COUNTERS = ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_fetched")


def pg_counters(site: Site) -> Counter[str] | None:
    """The database's transaction and row counters (a backend reports them at the latest
    when it disconnects: read them again after the server stopped)."""
    if site.backend != "postgres":
        return None
    url = make_url(site.url)
    query = f"SELECT {', '.join(PG_COUNTERS)} FROM pg_stat_database WHERE datname = %s"
    with psycopg.connect(psycopg_dsn(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(query, (url.database,)).fetchone()
    return Counter(dict(zip(PG_COUNTERS, map(int, row or ()), strict=False)))


@dataclass
class Row:
    backend: str
    scenario: str
    workers: int
    clients: str
    requests_s: float
    orders_s: float | None
    p50_ms: float
    p99_ms: float
    errors: int
    unknown: str = ""
    failover_s: float | None = None
    notes: list[str] = field(default_factory=list)


# -- scenario 1: throughput -----------------------------------------------------------------


def run_wrk(server: Server, site: Site, product: str, clients: int, seconds: float) -> Row:
    script = Path(__file__).with_name("payments_wrk.lua")
    duration = max(1, round(seconds))
    command = ["wrk", "-t2", f"-c{clients}", f"-d{duration}s", "--timeout", "30s"]
    command += ["-s", str(script), server.base_url, "--"]
    command += [site.merchant_key, product, uuid.uuid4().hex[:8], CARD_NUMBER]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    found = re.search(r"^WRK_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-300:]}")
    out = json.loads(found.group(1))
    errors = sum(out[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Row(
        backend=site.backend,
        scenario="throughput (wrk)",
        workers=server.workers,
        clients=str(clients),
        requests_s=out["requests"] / (out["duration_us"] / 1e6),
        orders_s=None,
        p50_ms=out["p50_us"] / 1000,
        p99_ms=out["p99_us"] / 1000,
        errors=errors,
    )


def run_asyncio_load(server: Server, site: Site, product: str, clients: int, seconds: float) -> Row:
    async def go() -> list[Sample]:
        client = PayinClient(server.port, site.merchant_key, product)
        try:
            return await closed_loop(client, clients, seconds)
        finally:
            client.close()

    started = time.perf_counter()
    samples = asyncio.run(go())
    elapsed = time.perf_counter() - started
    latencies = [s.latency_s for s in samples if s.status == 201]
    return Row(
        backend=site.backend,
        scenario="throughput (asyncio client)",
        workers=server.workers,
        clients=str(clients),
        requests_s=len(samples) / elapsed,
        orders_s=None,
        p50_ms=percentile_ms(latencies, 50),
        p99_ms=percentile_ms(latencies, 99),
        errors=sum(1 for s in samples if s.status != 201),
    )


def throughput(
    site: Site, engine: Engine, banks: Sequence[Bank], workers: int, args: argparse.Namespace
) -> Row:
    product = f"throughput_{workers}w"
    with serving(site, workers, product) as server:
        warm_up(server, site)
        pg_before = pg_counters(site)
        groups = {"paycore serve": server.pids(), "banks": [b.proc.pid for b in banks]}
        database = make_url(site.url).database if site.backend == "postgres" else None
        meter = CpuMeter(groups, database)
        label = f"{site.backend}: throughput, {workers} worker(s), {args.clients} clients"
        with console.status(f"{label}, {args.seconds:g} s"):
            if args.load == "wrk":
                row = run_wrk(server, site, product, args.clients, args.seconds)
            else:
                row = run_asyncio_load(server, site, product, args.clients, args.seconds)
        with console.status(f"{label}: waiting for the callbacks"):
            stats = wait_resolved(engine, product)
        cpu = meter.per_order_ms(sum(stats.by_status.values()))
        if row.errors:
            row.notes.append(f"one more pay-in: {asyncio.run(one_payin(server, site, product))}")
    pg_after = pg_counters(site)
    if pg_before is not None and pg_after is not None and stats.by_status.total():
        spent, done = pg_after - pg_before, stats.by_status.total()
        shares = ", ".join(f"{k.split('_')[1]} {spent[k] / done:.1f}" for k in PG_COUNTERS)
        row.notes.append(f"PostgreSQL per order: {shares}")
    if stats.first_created_at and stats.last_finished_at:
        window = stats.last_finished_at - stats.first_created_at
        row.orders_s = stats.by_status["succeeded"] / window if window > 0 else 0.0
    row.errors += stats.not_succeeded
    row.notes.append(f"orders {dict(stats.by_status)}")
    row.unknown = stats.unknown_cell
    if cpu:
        parts: list[str] = []
        for k, v in cpu.items():
            if k == KERNEL:
                parts[-1] += f" (in the kernel {v:.1f})"
            else:
                parts.append(f"{k} {v:.1f}")
        shares = ", ".join(parts)
        row.notes.append(f"CPU ms per order: {shares}")
    console.print(
        f"{label}: {row.requests_s:,.0f} requests/s, [bold]{row.orders_s or 0:,.0f} orders/s end "
        f"to end[/bold], p50 {row.p50_ms:.1f} ms, p99 {row.p99_ms:.1f} ms, {row.errors} errors"
    )
    for note in row.notes:
        console.print(f"  {note}")
    return row


# -- scenario 2: failover -------------------------------------------------------------------


@dataclass
class FailoverTrace:
    samples: list[Sample] = field(default_factory=list)
    hang_at: float = 0.0
    breaker_seen_at: float | None = None


async def _watch_breaker(server: Server, admin_key: str, trace: FailoverTrace) -> None:
    """GET /v1/channels until a worker shows bank-a's breaker open (any worker answers)."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    while trace.breaker_seen_at is None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError, KeyError):
            conn = await Connection.open(server.port)  # a new connection: any worker
            try:
                status, content = await conn.request("GET", "/v1/channels", headers)
            finally:
                conn.close()
            states = {c["channel"]: c["state"] for c in json.loads(content)["data"]}
            if status == 200 and states.get("bank-a") != "closed":
                trace.breaker_seen_at = time.perf_counter()
        await asyncio.sleep(CHANNELS_POLL_S)


async def _hang_bank_a(
    server: Server, site: Site, bank_a: Bank, rate: float, trace: FailoverTrace
) -> None:
    client = PayinClient(server.port, site.merchant_key, "failover")
    stop = asyncio.Event()
    load = asyncio.create_task(open_loop(client, rate, stop))
    await asyncio.sleep(FAILOVER_STEADY_S)
    trace.hang_at = time.perf_counter()
    await asyncio.to_thread(bank_a.set_faults, HANG)
    watch = asyncio.create_task(_watch_breaker(server, site.admin_key, trace))
    await asyncio.sleep(FAILOVER_OBSERVE_S)
    watch.cancel()
    await asyncio.to_thread(bank_a.set_faults, {"hang": False})
    stop.set()
    trace.samples = await load
    client.close()


def failover_point(trace: FailoverTrace) -> float | None:
    """Seconds from the hang until every later request was answered by bank-b."""
    after = sorted(
        (s for s in trace.samples if s.started >= trace.hang_at), key=lambda s: s.started
    )
    last_elsewhere = max(
        (i for i, s in enumerate(after) if s.status != 201 or s.channel != "bank-b"), default=-1
    )
    if last_elsewhere + 1 >= len(after):
        return None  # never failed over
    return after[last_elsewhere + 1].started - trace.hang_at


def failover(
    site: Site, engine: Engine, bank_a: Bank, workers: int, rate: float, label: str
) -> Row:
    trace = FailoverTrace()
    with serving(site, workers, "failover") as server:
        warm_up(server, site)
        with console.status(
            f"{label}: {rate:,.0f} pay-ins/s; bank-a hangs after {FAILOVER_STEADY_S:g} s"
        ):
            started = time.perf_counter()
            asyncio.run(_hang_bank_a(server, site, bank_a, rate, trace))
            elapsed = time.perf_counter() - started
        with console.status(f"{label}: waiting for the result-unknown orders to resolve"):
            resolve_started = time.perf_counter()
            stats = wait_resolved(engine, "failover")
            resolve_s = time.perf_counter() - resolve_started
    samples = trace.samples
    ok = [s.latency_s for s in samples if s.status == 201]
    failover_s = failover_point(trace)
    row = Row(
        backend=site.backend,
        scenario="failover (bank-a hangs)",
        workers=workers,
        clients=f"{rate:,.0f}/s open",
        requests_s=len(samples) / elapsed,
        orders_s=None,
        p50_ms=percentile_ms(ok, 50),
        p99_ms=percentile_ms(ok, 99),
        errors=sum(1 for s in samples if s.status != 201) + stats.not_succeeded,
        unknown=stats.unknown_cell,
        failover_s=failover_s,
    )
    if failover_s is not None:
        switched = trace.hang_at + failover_s
        later = [s.latency_s for s in samples if s.started >= switched and s.status == 201]
        row.notes.append(
            f"after failover: p50 {percentile_ms(later, 50):.1f} ms, "
            f"p99 {percentile_ms(later, 99):.1f} ms on bank-b"
        )
    if trace.breaker_seen_at is not None:
        row.notes.append(
            f"GET /v1/channels first showed bank-a open {trace.breaker_seen_at - trace.hang_at:.2f}"
            " s after the hang"
        )
    channels = Counter(s.channel or f"HTTP {s.status}" for s in samples)
    row.notes.append(f"answers by channel {dict(channels)}; orders {dict(stats.by_status)}")
    row.notes.append(f"all orders final {resolve_s:.1f} s after the load stopped")
    shown = f"{failover_s:.2f} s" if failover_s is not None else "never"
    console.print(f"{label}: [bold]failover {shown}[/bold], {stats.unknown} result-unknown orders")
    for note in row.notes:
        console.print(f"  {note}")
    return row


# -- profile ---------------------------------------------------------------------------------


def profile(site: Site, banks: Sequence[Bank], workers: int, args: argparse.Namespace) -> None:
    """One more throughput run with py-spy (CPU only: --gil) on the workers and bank-a."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        console.print("[yellow]--profile: py-spy not found (pip install py-spy)[/yellow]")
        return
    seconds = max(2, round(args.seconds))
    with serving(site, workers, "profile") as server:
        warm_up(server, site)
        targets = {f"worker {pid}": pid for pid in server.worker_pids()}
        targets["bank-a"] = banks[0].proc.pid
        outputs = {name: site.work / f"profile-{pid}.txt" for name, pid in targets.items()}
        record = [py_spy, "record", "--gil", "--nonblocking", "-f", "raw", "-r", PROFILE_RATE]
        spies = [
            subprocess.Popen(
                [*record, "-d", str(seconds), "-o", str(outputs[name]), "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in targets.items()
        ]
        with console.status(f"{site.backend}: profiling {seconds} s"):
            if args.load == "wrk":
                run_wrk(server, site, "profile", args.clients, seconds)
            else:
                run_asyncio_load(server, site, "profile", args.clients, seconds)
            for spy in spies:
                spy.wait(timeout=seconds + 60)
    workers_out = [path for name, path in outputs.items() if name.startswith("worker")]
    print_profile(f"{site.backend}: paycore serve workers", workers_out)
    print_profile(f"{site.backend}: bank-a", [outputs["bank-a"]])


def frame_library(frame: str) -> str:
    """`save_order (paycore/payments/store.py:230)` -> `paycore`; stdlib modules by name."""
    found = re.search(r"\(([^():]+)(?::\d+)?\)$", frame)
    path = found.group(1) if found else frame
    return path.split("/")[0].removesuffix(".py") or "?"


def print_profile(title: str, paths: Sequence[Path]) -> None:
    own: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            if not count.isdigit() or not frames:
                continue
            n = int(count)
            total += n
            own[frames[-1]] += n
            libraries[frame_library(frames[-1])] += n
            for name in {re.sub(r":\d+\)$", ")", f) for f in frames if "paycore/" in f}:
                inclusive[name] += n
    if not total:
        console.print(f"{title}: no samples")
        return
    table = Table(title=f"{title}: where the GIL-holding CPU goes ({total:,} samples)")
    table.add_column("self %", justify="right")
    table.add_column("library (self)")
    table.add_column("incl. %", justify="right")
    table.add_column("paycore function (inclusive)")
    columns = (libraries.most_common(PROFILE_ROWS), inclusive.most_common(PROFILE_ROWS))
    for i in range(PROFILE_ROWS):
        row: list[str] = []
        for top in columns:
            name, n = top[i] if i < len(top) else ("", 0)
            row += [f"{n / total:.1%}" if name else "", name]
        table.add_row(*row)
    console.print(table)
    hottest = ", ".join(f"{f} {n / total:.1%}" for f, n in own.most_common(5))
    console.print(f"  hottest frames (self): {hottest}")


# -- backends --------------------------------------------------------------------------------


def postgres_site(url: URL, work: Path) -> Site:
    name = url.database or ""
    admin = psycopg_dsn(url.set(database="postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        row = conn.execute("SHOW server_version").fetchone()
    sa_url = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return Site("postgres", sa_url, f"PostgreSQL {row[0] if row else '?'}", work)


def sqlite_site(work: Path) -> Site:
    import sqlite3

    path = work / "paycore.db"
    return Site("sqlite", f"sqlite:///{path}", f"SQLite {sqlite3.sqlite_version}", work)


def bench_backend(
    site: Site, banks: Sequence[Bank], args: argparse.Namespace, problems: list[str]
) -> list[Row]:
    console.rule(f"[bold]{site.backend}[/bold]  {site.version}")
    with console.status(f"{site.backend}: migrating, creating the merchant and its keys"):
        site.prepare(banks)
    engine = make_engine(site.url, pool_size=2)
    rows: list[Row] = []
    try:
        choices = args.pg_workers if site.backend == "postgres" else [1]
        for workers in choices:
            rows.append(throughput(site, engine, banks, workers, args))
        best = max(rows, key=lambda r: r.orders_s or 0.0)
        if len(rows) > 1:
            console.print(f"{site.backend}: best with {best.workers} worker(s)")
        rate = min(max((best.orders_s or 0.0) / 2, FAILOVER_RATE_MIN), FAILOVER_RATE_MAX)
        label = f"{site.backend}: failover, {best.workers} worker(s)"
        rows.append(failover(site, engine, banks[0], best.workers, rate, label))
        if args.profile:
            profile(site, banks, best.workers, args)
    finally:
        engine.dispose()
        with contextlib.suppress(httpx.HTTPError):
            banks[0].set_faults({"hang": False})
    with console.status(f"{site.backend}: paycore ledger check"):
        try:
            run_cli(["ledger", "check"], site.env)
            console.print(f"{site.backend}: [green]paycore ledger check passed[/green]")
        except RuntimeError as exc:
            problems.append(f"{site.backend}: ledger check failed: {exc}")
            console.print(f"[red]{problems[-1]}[/red]")
    problems += [f"{r.backend} {r.scenario}: {r.errors:,} errors" for r in rows if r.errors]
    return rows


# -- report ----------------------------------------------------------------------------------

COLUMNS = (
    "scenario",
    "workers",
    "clients",
    "requests/s",
    "orders/s e2e",
    "p50 ms",
    "p99 ms",
    "errors",
    "result unknown",
    "failover s",
)


def cells(r: Row) -> list[str]:
    return [
        r.scenario,
        str(r.workers),
        r.clients,
        f"{r.requests_s:,.0f}",
        f"{r.orders_s:,.0f}" if r.orders_s is not None else "",
        f"{r.p50_ms:.1f}",
        f"{r.p99_ms:.1f}",
        f"{r.errors:,}",
        r.unknown,
        f"{r.failover_s:.2f}" if r.failover_s is not None else "",
    ]


def print_table(rows: Sequence[Row], title: str) -> None:
    table = Table(title=title)
    for i, name in enumerate(COLUMNS):
        table.add_column(name, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*cells(r))
    console.print(table)


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| backend | " + " | ".join(COLUMNS) + " |"]
    lines.append("|---|---|" + "---:|" * (len(COLUMNS) - 1))
    lines += ["| " + r.backend + " | " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def verdict(rows: Sequence[Row]) -> str:
    best = max(rows, key=lambda r: r.orders_s or 0.0)
    fail = next((r for r in rows if r.scenario.startswith("failover")), None)
    checks = [
        (f"≥ {TARGET_ORDERS_S:,.0f} orders/s", (best.orders_s or 0.0) >= TARGET_ORDERS_S),
        (f"p99 < {TARGET_P99_MS:g} ms", best.p99_ms < TARGET_P99_MS),
    ]
    if fail is not None:
        failed_over = fail.failover_s is not None and fail.failover_s < TARGET_FAILOVER_S
        checks.append((f"failover < {TARGET_FAILOVER_S:g} s", failed_over))
    return ", ".join(f"{name} [{'green]met' if ok else 'red]missed'}[/]" for name, ok in checks)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backends", default="postgres,sqlite", help="comma-separated")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="dropped and recreated")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR, help="emptied first")
    parser.add_argument("--seconds", type=float, default=10.0, help="of throughput load")
    parser.add_argument("--clients", type=int, default=32, help="concurrent, for throughput")
    parser.add_argument("--pg-workers", default="1,2", help="server processes to try")
    parser.add_argument("--load", choices=["auto", "wrk", "asyncio"], default="auto")
    parser.add_argument("--profile", action="store_true", help="py-spy on workers and bank-a")
    parser.add_argument("--quick", action="store_true", help="--seconds 3 --pg-workers 2")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.pg_workers = 3.0, "2"
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.backends or set(args.backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes postgres and/or sqlite")
    try:
        args.pg_workers = [int(w) for w in args.pg_workers.split(",")]
    except ValueError:
        parser.error("--pg-workers is a comma-separated list of integers")
    if not all(1 <= w <= 16 for w in args.pg_workers):
        parser.error("--pg-workers are 1 to 16")
    if not 1 <= args.seconds <= 600 or not 1 <= args.clients <= 1024:
        parser.error("--seconds is 1 to 600, --clients 1 to 1024")
    if args.load == "auto":
        args.load = "wrk" if shutil.which("wrk") else "asyncio"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pg_url = check_pg_url(args.pg_url) if "postgres" in args.backends else None
    breaker = BreakerPolicy()
    machine = (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; load by {args.load}"
    )
    console.print(f"[bold]paycore payments benchmark[/bold]: {machine}")
    console.print(
        f"channels: bank-a (priority 1), bank-b (priority 2), timeout 2 s, default breaker: "
        f"slow_call_s {breaker.slow_call_s:g}, hung_calls_min {breaker.hung_calls_min}, "
        f"window {breaker.window_s:g} s, failure/slow rate {breaker.failure_rate_max:g}/"
        f"{breaker.slow_rate_max:g}, open_s {breaker.open_s:g}; banks' faults {BANK_FAULTS}"
    )
    problems: list[str] = []
    results: dict[str, tuple[Site, list[Row]]] = {}
    work = Path(args.work_dir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    console.print(f"logs, banks' data and the SQLite database in {work}")
    with contextlib.ExitStack() as stack:
        banks: list[Bank] = []
        with console.status("starting the sandbox banks"):
            for seed, name in enumerate(BANKS, start=1):
                banks.append(Bank(name, seed, work))
                stack.callback(banks[-1].stop)
        for backend in args.backends:
            folder = work / backend
            folder.mkdir()
            try:
                if backend == "postgres":
                    assert pg_url is not None
                    site = postgres_site(pg_url, folder)
                else:
                    site = sqlite_site(folder)
                results[backend] = (site, bench_backend(site, banks, args, problems))
            except (
                OSError,
                RuntimeError,
                psycopg.Error,
                subprocess.SubprocessError,
                httpx.HTTPError,
            ) as exc:
                problems.append(f"{backend}: {type(exc).__name__}: {exc}")
                console.print(f"[red]{problems[-1]}[/red]")
    if not results:
        return 1
    console.print()
    for backend, (site, rows) in results.items():
        print_table(rows, f"paycore pay-ins, {backend} ({site.version}); {machine}")
        console.print(f"  target: {verdict(rows)}")
    console.print(f"\nMarkdown ({machine}):\n")
    every_row = [r for _, rows in results.values() for r in rows]
    console.print(markdown(every_row), markup=False, highlight=False, soft_wrap=True)
    if problems:
        console.print("\n[red]Problems:[/red]\n  " + "\n  ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
