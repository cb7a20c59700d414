"""Ledger benchmark: paycore's transfer throughput and latency against a plain-SQL floor.

For each backend (SQLite, PostgreSQL) it recreates a scratch database, migrates it,
creates the accounts, and measures transfers/s and per-call p50/p99 latency for:

  a.     16 client threads, one transfer per `Ledger.create_transfers` call, uniform accounts
  b.     the same, but every transfer credits one hot account
  c.     batches of 1,000 transfers per call, from 1 client and from 4 clients
  d.     over HTTP: `paycore serve` in a subprocess, 16 concurrent clients (wrk) POSTing one
         transfer per request, uniform and hot credit; beside the rate, the CPU the server's
         processes spent per request (from /proc), which holds on a shared machine
  floor. plain SQL doing the least a transfer needs (two UPDATEs and one INSERT in one
         transaction) from 16 clients, uniform and hot, on its own tables: on PostgreSQL
         driven by pgbench (C, prepared statements; bench/pgbench_floor.py), on SQLite by
         16 Python threads

and prints paycore's ratio to the floor measured in the same run (a / floor-uniform,
b / floor-hot, d / floor-uniform, d-hot / floor-hot) and hot over uniform over HTTP.

    .venv/bin/python bench/ledger.py --quick            # both backends, about half a minute
    .venv/bin/python bench/ledger.py --backends sqlite  # 5 s per scenario, 10,000 accounts
    .venv/bin/python bench/ledger.py --only http,floor  # the HTTP scenarios and the floor

PostgreSQL must be reachable at --pg-url (a database named *bench* on 127.0.0.1, which
is dropped and recreated). Every loop is bounded in time and in count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import URL

import pgbench_floor
from common import check_pg_url, free_port, log_tail, psycopg_dsn, stop_gracefully
from paycore.ledger.model import AccountFlags, AccountOrigin, TransferRequest
from paycore.ledger.service import AccountRequest, Ledger
from paycore.platform.db import make_engine, upgrade
from paycore.platform.lifeline import start_child
from paycore.security.service import ApiKeys

CURRENCY = "CNY"
ACCOUNT_CHUNK = 5_000
BATCH = 1_000
CLIENTS = 16
AMOUNT_MAX = 10_000
MAX_CALLS_PER_CLIENT = 1_000_000
"""Count bound of every client loop, whatever --seconds says."""
MAX_ERRORS_PER_CLIENT = 100
"""A client that sees this many failed transfers stops early: the numbers would be noise."""
JOIN_GRACE_S = 120.0
"""How long after the deadline a scenario waits for its last in-flight calls."""
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 30.0
HTTP_WORKERS = {"sqlite": 1, "postgres": 2}
"""`paycore serve --workers N`: on PostgreSQL one process per core of this 2-core machine;
SQLite has one write lock per database, and a second process only queues on it (p99 53 ms
with two workers against 10 ms with one)."""
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench"
DEFAULT_SQLITE_PATH = "./var/bench/ledger.db"
FLOOR_ACCOUNTS = "bench_floor_account"
FLOOR_TRANSFERS = "bench_floor_transfer"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SCENARIO_GROUPS = ("inprocess", "http", "floor")

console = Console(width=None if sys.stdout.isatty() else 150)


# -- measurement ------------------------------------------------------------------------


@dataclass
class ClientLog:
    """What one client saw; written by its own thread, read by the progress loop."""

    latencies: list[float] = field(default_factory=list)  # seconds per successful call
    transfers: int = 0  # transfers whose result was `created`
    errors: int = 0  # transfers that failed (any other result, or the call raised)
    first_error: str | None = None
    end: float | None = None

    def record(self, started: float, failures: Sequence[str], per_call: int) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.transfers += per_call - len(failures)
        self.fail(failures)

    def fail(self, failures: Sequence[str]) -> None:
        self.errors += len(failures)
        if failures and self.first_error is None:
            self.first_error = failures[0]

    @property
    def gave_up(self) -> bool:
        return self.errors >= MAX_ERRORS_PER_CLIENT


@dataclass
class Window:
    """The measured interval: clients wait on `gate`, then run until `deadline`."""

    gate: threading.Event = field(default_factory=threading.Event)
    start: float = 0.0
    deadline: float = 0.0

    def open(self, seconds: float) -> None:
        self.start = time.perf_counter()
        self.deadline = self.start + seconds
        self.gate.set()


@dataclass
class Result:
    backend: str
    scenario: str
    label: str
    clients: int
    per_call: int
    transfers: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    first_error: str | None
    vs_floor: float | None = None
    server_cpu_ms: float | None = None
    """CPU the server's processes spent per request (HTTP scenarios only)."""

    @property
    def tps(self) -> float:
        return self.transfers / self.seconds if self.seconds > 0 else 0.0


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


# Builds one call's payload for (client, call number, rng); runs it, returning failed results.
Prepare = Callable[[int, int, random.Random], Any]
Call = Callable[[int, Any], list[str]]


def client_loop(
    client: int, window: Window, log: ClientLog, per_call: int, prepare: Prepare, call: Call
) -> None:
    rng = random.Random(client)
    window.gate.wait()
    try:
        for n in range(MAX_CALLS_PER_CLIENT):
            if time.perf_counter() >= window.deadline or log.gave_up:
                break
            payload = prepare(client, n, rng)
            started = time.perf_counter()
            try:
                failures = call(client, payload)
            except Exception as exc:
                log.fail([f"{type(exc).__name__}: {exc}"[:200]] * per_call)
                continue
            log.record(started, failures, per_call)
    finally:
        log.end = time.perf_counter()


def drive(
    backend: str,
    scenario: str,
    label: str,
    seconds: float,
    per_call: int,
    logs: list[ClientLog],
    threads: list[threading.Thread],
    window: Window,
) -> Result:
    """Start the clients together, show progress until they are done, and summarise."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
    )
    with progress:
        shape = f"{len(logs)} x {per_call:,}"
        task = progress.add_task(f"{backend:<8} {label:<26} {shape:>9}", total=seconds, info="")
        for thread in threads:
            thread.start()
        window.open(seconds)
        hard_stop = window.deadline + JOIN_GRACE_S
        while any(t.is_alive() for t in threads) and time.perf_counter() < hard_stop:
            elapsed = time.perf_counter() - window.start
            done = sum(log.transfers for log in logs)
            info = f"{done:,} transfers, {done / max(elapsed, 1e-9):,.0f}/s"
            if elapsed > seconds:
                info += " (finishing in-flight calls)"
            progress.update(task, completed=min(elapsed, seconds), info=info)
            time.sleep(0.1)
        now = time.perf_counter()
        end = max((log.end or now) for log in logs)
        latencies = sorted(x for log in logs for x in log.latencies)
        errors = [log.first_error for log in logs if log.first_error]
        result = Result(
            backend=backend,
            scenario=scenario,
            label=label,
            clients=len(logs),
            per_call=per_call,
            transfers=sum(log.transfers for log in logs),
            seconds=end - window.start,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            errors=sum(log.errors for log in logs),
            first_error=errors[0] if errors else None,
        )
        info = (
            f"{result.transfers:,} transfers, [bold]{result.tps:,.0f}/s[/bold], "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
        )
        if result.errors:
            info += f", [red]{result.errors:,} failed (first: {result.first_error})[/red]"
        progress.update(task, completed=seconds, info=info)
    return result


def run_threaded(
    backend: str,
    scenario: str,
    label: str,
    seconds: float,
    clients: int,
    per_call: int,
    prepare: Prepare,
    call: Call,
) -> Result:
    window = Window()
    logs = [ClientLog() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=client_loop,
            args=(i, window, logs[i], per_call, prepare, call),
            name=f"bench-{scenario}-{i}",
            daemon=True,
        )
        for i in range(clients)
    ]
    return drive(backend, scenario, label, seconds, per_call, logs, threads, window)


# -- workload -------------------------------------------------------------------------------

Pick = Callable[[random.Random, Sequence[str]], tuple[str, str]]


def pick_uniform(rng: random.Random, ids: Sequence[str]) -> tuple[str, str]:
    debit = rng.randrange(len(ids))
    credit = rng.randrange(len(ids) - 1)
    if credit >= debit:
        credit += 1
    return ids[debit], ids[credit]


def pick_hot(rng: random.Random, ids: Sequence[str]) -> tuple[str, str]:
    """Every transfer credits ids[0], the hot account."""
    return ids[rng.randrange(1, len(ids))], ids[0]


def account_ids(count: int) -> list[str]:
    return [f"acct-{i:06d}" for i in range(count)]


def transfer_requests(
    scenario: str, client: int, n: int, per_call: int, rng: random.Random, ids: Sequence[str]
) -> list[TransferRequest]:
    pick = pick_hot if scenario == "b" else pick_uniform
    batch = []
    for k in range(per_call):
        debit, credit = pick(rng, ids)
        batch.append(
            TransferRequest(
                id=f"{scenario}-{client}-{n * per_call + k}",
                debit_account_id=debit,
                credit_account_id=credit,
                amount=rng.randint(1, AMOUNT_MAX),
                currency=CURRENCY,
            )
        )
    return batch


# -- paycore in process --------------------------------------------------------------------


def create_accounts(ledger: Ledger, ids: Sequence[str]) -> int:
    created = 0
    for start in range(0, len(ids), ACCOUNT_CHUNK):
        chunk = ids[start : start + ACCOUNT_CHUNK]
        # API accounts: scenario d moves their money through the HTTP API with a platform key.
        requests = [
            AccountRequest(
                currency=CURRENCY, id=i, flags=AccountFlags.NONE, origin=AccountOrigin.API
            )
            for i in chunk
        ]
        created += sum(1 for _, fresh in ledger.create_accounts(requests) if fresh)
    return created


def run_ledger(
    backend: str,
    ledger: Ledger,
    ids: Sequence[str],
    scenario: str,
    label: str,
    seconds: float,
    clients: int,
    per_call: int,
) -> Result:
    def prepare(client: int, n: int, rng: random.Random) -> list[TransferRequest]:
        return transfer_requests(scenario, client, n, per_call, rng, ids)

    def call(_client: int, batch: list[TransferRequest]) -> list[str]:
        return [r.result for r in ledger.create_transfers(batch) if r.result != "created"]

    return run_threaded(backend, scenario, label, seconds, clients, per_call, prepare, call)


# -- paycore over HTTP ------------------------------------------------------------------------


def paycore_command() -> list[str]:
    script = Path(sys.executable).parent / "paycore"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from paycore.cli import main; main()"]


class Server:
    """`paycore serve` on a free 127.0.0.1 port, its output in a log file."""

    def __init__(
        self, database_url: str, log_path: Path, workers: int, server: str = "uvicorn"
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PAYCORE_DATABASE_URL=database_url)
        command = [*paycore_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        # No channel is called here: no sandbox bank, whose CPU would blur the server's.
        command += ["--workers", str(workers), "--no-sandbox", "--server", server]
        with log_path.open("wb") as log:
            # A lifeline: the server stops with this benchmark, even when it is killed.
            self.proc = start_child(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"paycore serve exited with {self.proc.returncode}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"paycore serve not healthy after {SERVER_START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        stop_gracefully(self.proc, SERVER_STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its worker processes so far (from /proc)."""
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(OSError):
            pids += [int(p) for p in children.read_text().split()]
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / CLOCK_TICKS


def transfer_json(batch: Sequence[TransferRequest]) -> dict[str, Any]:
    return {
        "transfers": [
            {
                "id": t.id,
                "debit_account_id": t.debit_account_id,
                "credit_account_id": t.credit_account_id,
                "amount": t.amount,
                "currency": t.currency,
            }
            for t in batch
        ]
    }


def http_failures(response: httpx.Response, per_call: int) -> list[str]:
    if response.status_code != 200:
        return [f"http_{response.status_code}"] * per_call
    results = response.json()["results"]
    return [r["result"] for r in results if r["result"] != "created"]


def run_http(
    backend: str,
    base_url: str,
    ids: Sequence[str],
    scenario: str,
    label: str,
    seconds: float,
    clients: int,
    api_key: str,
) -> Result:
    """`clients` asyncio tasks over one httpx.AsyncClient limited to `clients` connections."""
    auth = {"Authorization": f"Bearer {api_key}"}
    per_call = 1
    window = Window()
    logs = [ClientLog() for _ in range(clients)]

    # Warm the server (first request through the app) outside the measurement.
    with httpx.Client(
        base_url=base_url, timeout=HTTP_TIMEOUT_S, trust_env=False, headers=auth
    ) as warm:
        rng = random.Random(-1)
        for n in range(5):
            batch = transfer_requests(f"{scenario}warm", 0, n, per_call, rng, ids)
            warm.post("/v1/transfers", json=transfer_json(batch)).raise_for_status()

    async def one_client(http: httpx.AsyncClient, client: int) -> None:
        log = logs[client]
        rng = random.Random(client)
        try:
            for n in range(MAX_CALLS_PER_CLIENT):
                if time.perf_counter() >= window.deadline or log.gave_up:
                    break
                batch = transfer_requests(scenario, client, n, per_call, rng, ids)
                body = transfer_json(batch)
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/transfers", json=body)
                except httpx.HTTPError as exc:
                    log.fail([f"{type(exc).__name__}: {exc}"[:200]] * per_call)
                    continue
                log.record(started, http_failures(response, per_call), per_call)
        finally:
            log.end = time.perf_counter()

    async def all_clients() -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=HTTP_TIMEOUT_S, trust_env=False, headers=auth
        ) as http:
            await asyncio.to_thread(window.gate.wait)
            await asyncio.gather(*(one_client(http, i) for i in range(clients)))

    def thread_main() -> None:
        try:
            asyncio.run(all_clients())
        finally:
            now = time.perf_counter()
            for log in logs:
                log.end = log.end or now

    thread = threading.Thread(target=thread_main, name=f"bench-{scenario}", daemon=True)
    return drive(backend, scenario, label, seconds, per_call, logs, [thread], window)


WRK_SCRIPT = """
local accounts = {accounts}
local counter = 0
local threads = {{}}
function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  local debit, credit
  if {hot} then
    debit, credit = math.random(1, accounts - 1), 0
  else
    debit = math.random(0, accounts - 1)
    credit = (debit + math.random(1, accounts - 1)) % accounts
  end
  local body = string.format(
    '{{"transfers":[{{"id":"wrk-%d-%d","debit_account_id":"acct-%06d",' ..
    '"credit_account_id":"acct-%06d","amount":%d,"currency":"{currency}"}}]}}',
    thread_id, counter, debit, credit, math.random(1, {amount_max}))
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {api_key}"}}
  return wrk.format("POST", "/v1/transfers", headers, body)
end
"""


def run_http_wrk(
    backend: str,
    server: Server,
    accounts: int,
    scenario: str,
    label: str,
    seconds: float,
    clients: int,
    api_key: str,
) -> Result:
    """The same HTTP scenario driven by wrk: a Python client on these 2 cores measures itself.
    Scenario `d-hot` credits acct-000000 in every transfer."""
    script = Path(tempfile.mkdtemp()) / "transfers.lua"
    script.write_text(
        WRK_SCRIPT.format(
            accounts=accounts,
            currency=CURRENCY,
            amount_max=AMOUNT_MAX,
            api_key=api_key,
            hot="true" if scenario == "d-hot" else "false",
        ).replace("wrk-%d-%d", f"wrk-{scenario}-%d-%d")
    )
    duration = max(1, round(seconds))
    command = ["wrk", "-t2", f"-c{clients}", f"-d{duration}s", "--latency", "-s", str(script)]
    with console.status(f"{backend}: {label} for {duration} s"):
        cpu_before = server.cpu_seconds()
        done = subprocess.run(
            [*command, server.base_url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        )
        server_cpu_s = server.cpu_seconds() - cpu_before
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors_found = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(errors_found.group(1)) if errors_found else 0
    result = Result(
        backend=backend,
        scenario=scenario,
        label=label,
        clients=clients,
        per_call=1,
        transfers=requests - errors,
        seconds=float(duration),
        p50_ms=_wrk_latency_ms(out, "50%"),
        p99_ms=_wrk_latency_ms(out, "99%"),
        errors=errors,
        first_error="non-2xx responses" if errors else None,
        server_cpu_ms=server_cpu_s * 1000 / requests if requests else None,
    )
    console.print(
        f"  {backend:<8} {label:<34} {result.transfers:,} transfers, {result.tps:,.0f}/s, "
        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
        f"server CPU {result.server_cpu_ms or 0:.3f} ms/request"
    )
    return result


def _wrk_latency_ms(out: str, percent: str) -> float:
    found = re.search(rf"{percent}\s+([\d.]+)(us|ms|s)\b", out)
    if not found:
        return 0.0
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


# -- the floor: plain SQL ------------------------------------------------------------------

FLOOR_DDL = (
    f"DROP TABLE IF EXISTS {FLOOR_TRANSFERS}",
    f"DROP TABLE IF EXISTS {FLOOR_ACCOUNTS}",
    f"CREATE TABLE {FLOOR_ACCOUNTS} (id TEXT PRIMARY KEY,"
    " debits_posted BIGINT NOT NULL DEFAULT 0, credits_posted BIGINT NOT NULL DEFAULT 0)",
    f"CREATE TABLE {FLOOR_TRANSFERS} (id TEXT PRIMARY KEY, debit_account_id TEXT NOT NULL,"
    " credit_account_id TEXT NOT NULL, amount BIGINT NOT NULL)",
)


def floor_statements(placeholder: str) -> tuple[str, str, str]:
    p = placeholder
    return (
        f"UPDATE {FLOOR_ACCOUNTS} SET debits_posted = debits_posted + {p} WHERE id = {p}",
        f"UPDATE {FLOOR_ACCOUNTS} SET credits_posted = credits_posted + {p} WHERE id = {p}",
        f"INSERT INTO {FLOOR_TRANSFERS} (id, debit_account_id, credit_account_id, amount)"
        f" VALUES ({p}, {p}, {p}, {p})",
    )


FloorPayload = tuple[str, str, str, int]  # id, debit, credit, amount


class Floor(Protocol):
    """The least SQL one transfer needs, one transaction per transfer, one connection per client."""

    def setup(self, ids: Sequence[str]) -> None: ...

    def connect(self, clients: int) -> None: ...

    def transfer(self, client: int, payload: FloorPayload) -> list[str]: ...

    def close(self) -> None: ...

    def sums(self) -> tuple[int, int, int, int]:
        """(debits_posted, credits_posted, transfer rows, transfer amounts) of the floor."""
        ...


class SqliteFloor:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conns: list[sqlite3.Connection] = []
        self.debit_sql, self.credit_sql, self.insert_sql = floor_statements("?")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # the durability paycore runs with
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def setup(self, ids: Sequence[str]) -> None:
        conn = self._connect()
        try:
            for statement in FLOOR_DDL:
                conn.execute(statement)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(f"INSERT INTO {FLOOR_ACCOUNTS} (id) VALUES (?)", [(i,) for i in ids])
            conn.execute("COMMIT")
        finally:
            conn.close()

    def connect(self, clients: int) -> None:
        self.close()
        self.conns = [self._connect() for _ in range(clients)]

    def transfer(self, client: int, payload: FloorPayload) -> list[str]:
        tid, debit, credit, amount = payload
        conn = self.conns[client]
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Same order of row updates in every transaction (by id), as a real writer would.
            if debit < credit:
                conn.execute(self.debit_sql, (amount, debit))
                conn.execute(self.credit_sql, (amount, credit))
            else:
                conn.execute(self.credit_sql, (amount, credit))
                conn.execute(self.debit_sql, (amount, debit))
            conn.execute(self.insert_sql, (tid, debit, credit, amount))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return []

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.conns = []

    def sums(self) -> tuple[int, int, int, int]:
        conn = self._connect()
        try:
            dp, cp = conn.execute(
                f"SELECT COALESCE(SUM(debits_posted), 0), COALESCE(SUM(credits_posted), 0)"
                f" FROM {FLOOR_ACCOUNTS}"
            ).fetchone()
            rows, amounts = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM {FLOOR_TRANSFERS}"
            ).fetchone()
            return int(dp), int(cp), int(rows), int(amounts)
        finally:
            conn.close()


class PostgresFloor:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conns: list[psycopg.Connection[Any]] = []
        self.debit_sql, self.credit_sql, self.insert_sql = floor_statements("%s")

    def setup(self, ids: Sequence[str]) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for statement in FLOOR_DDL:
                conn.execute(statement)
            with conn.cursor() as cur, cur.copy(f"COPY {FLOOR_ACCOUNTS} (id) FROM STDIN") as copy:
                for i in ids:
                    copy.write_row((i,))
            conn.execute(f"ANALYZE {FLOOR_ACCOUNTS}")

    def connect(self, clients: int) -> None:
        self.close()
        self.conns = [psycopg.connect(self.dsn) for _ in range(clients)]

    def transfer(self, client: int, payload: FloorPayload) -> list[str]:
        tid, debit, credit, amount = payload
        conn = self.conns[client]
        try:
            # Same order of row locks in every transaction (by id), so no deadlocks.
            if debit < credit:
                conn.execute(self.debit_sql, (amount, debit))
                conn.execute(self.credit_sql, (amount, credit))
            else:
                conn.execute(self.credit_sql, (amount, credit))
                conn.execute(self.debit_sql, (amount, debit))
            conn.execute(self.insert_sql, (tid, debit, credit, amount))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return []

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.conns = []

    def sums(self) -> tuple[int, int, int, int]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(
                f"SELECT COALESCE(SUM(debits_posted), 0), COALESCE(SUM(credits_posted), 0)"
                f" FROM {FLOOR_ACCOUNTS}"
            ).fetchone()
            totals = conn.execute(
                f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM {FLOOR_TRANSFERS}"
            ).fetchone()
            assert row is not None and totals is not None
            return int(row[0]), int(row[1]), int(totals[0]), int(totals[1])


def run_floor(
    backend: str,
    floor: Floor,
    ids: Sequence[str],
    scenario: str,
    label: str,
    seconds: float,
    clients: int,
) -> Result:
    pick = pick_hot if scenario == "floor-hot" else pick_uniform

    def prepare(client: int, n: int, rng: random.Random) -> FloorPayload:
        debit, credit = pick(rng, ids)
        return (f"{scenario}-{client}-{n}", debit, credit, rng.randint(1, AMOUNT_MAX))

    floor.connect(clients)
    try:
        return run_threaded(backend, scenario, label, seconds, clients, 1, prepare, floor.transfer)
    finally:
        floor.close()


# -- backends -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    name: str
    url: str  # SQLAlchemy URL, as PAYCORE_DATABASE_URL takes it
    floor: Floor
    version: str
    pg_dsn: str | None = None


def reset_sqlite(path: Path) -> Backend:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path.resolve()}"
    return Backend("sqlite", url, SqliteFloor(path), f"SQLite {sqlite3.sqlite_version}")


def reset_postgres(url: URL) -> Backend:
    name = url.database or ""
    admin = psycopg_dsn(url.set(database="postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        row = conn.execute("SHOW server_version").fetchone()
    version = f"PostgreSQL {row[0] if row else '?'}"
    sa_url = url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    dsn = psycopg_dsn(url)
    return Backend("postgres", sa_url, PostgresFloor(dsn), version, pg_dsn=dsn)


def bench_backend(
    backend: Backend, args: argparse.Namespace, log_dir: Path, problems: list[str]
) -> list[Result]:
    """Run every scenario on one backend; what went wrong is appended to `problems`."""
    seconds: float = args.seconds
    ids = account_ids(args.accounts)
    console.rule(f"[bold]{backend.name}[/bold]  {backend.version}")
    with console.status(f"{backend.name}: migrating"):
        upgrade(backend.url)
    engine = make_engine(backend.url)
    ledger = Ledger(engine)
    results: list[Result] = []
    try:
        with console.status(f"{backend.name}: creating {len(ids):,} accounts"):
            started = time.perf_counter()
            created = create_accounts(ledger, ids)
            took = time.perf_counter() - started
        console.print(f"{backend.name}: created {created:,} accounts in {took:.1f} s")
        ledger.create_transfers(transfer_requests("warmup", 0, 0, 1, random.Random(0), ids))

        in_process = (
            ("a", "a. in-process, uniform", CLIENTS, 1),
            ("b", "b. in-process, hot credit", CLIENTS, 1),
            ("c1", "c. in-process, batches", 1, BATCH),
            ("c4", "c. in-process, batches", 4, BATCH),
        )
        for scenario, label, clients, per_call in in_process if "inprocess" in args.only else ():
            results.append(
                run_ledger(backend.name, ledger, ids, scenario, label, seconds, clients, per_call)
            )
        if "http" in args.only:
            results += bench_http(backend, args, engine, ids, log_dir, problems)

        with console.status(f"{backend.name}: ledger.check()"):
            report = ledger.check()
        if report.ok:
            console.print(
                f"{backend.name}: [green]ledger balanced[/green] "
                f"({report.accounts_checked:,} accounts, totals {report.totals})"
            )
        else:
            problems.append(f"{backend.name}: ledger not balanced")
            console.print(
                f"{backend.name}: [red]ledger NOT balanced[/red], {len(report.problems)} problems:"
            )
            for problem in report.problems[:10]:
                console.print(f"  {problem}")
    finally:
        ledger.close()
        engine.dispose()

    if "floor" in args.only:
        if backend.name == "postgres" and backend.pg_dsn and pgbench_floor.available():
            results += bench_pgbench_floor(backend.pg_dsn, len(ids), seconds, problems)
        else:
            results += bench_python_floor(backend, ids, seconds, problems)

    by_scenario = {r.scenario: r for r in results}
    pairs = [("a", "floor-uniform"), ("b", "floor-hot"), ("d", "floor-uniform")]
    pairs.append(("d-hot", "floor-hot"))
    for paycore, floor in pairs:
        if paycore in by_scenario and floor in by_scenario and by_scenario[floor].tps > 0:
            by_scenario[paycore].vs_floor = by_scenario[paycore].tps / by_scenario[floor].tps
    ratios = [
        f"{s}/{f} = {by_scenario[s].vs_floor:.2f}x"
        for s, f in pairs
        if s in by_scenario and by_scenario[s].vs_floor is not None
    ]
    if "d" in by_scenario and "d-hot" in by_scenario and by_scenario["d"].tps > 0:
        ratios.append(f"HTTP hot/uniform = {by_scenario['d-hot'].tps / by_scenario['d'].tps:.2f}x")
    console.print(f"{backend.name}: paycore vs floor: {', '.join(ratios) or 'n/a'}")
    return results


def bench_http(
    backend: Backend,
    args: argparse.Namespace,
    engine: Any,
    ids: Sequence[str],
    log_dir: Path,
    problems: list[str],
) -> list[Result]:
    """Scenario d (uniform) and d-hot (every transfer credits one account) over HTTP."""
    results: list[Result] = []
    # The HTTP scenario authenticates like any client: an admin key, made for this run.
    _key, api_key = ApiKeys(engine).issue(merchant_id=None, scopes=["admin"], label="bench")
    workers = args.http_workers or HTTP_WORKERS[backend.name]
    with console.status(f"{backend.name}: starting paycore serve"):
        server = Server(backend.url, log_dir / f"serve-{backend.name}.log", workers, args.server)
    try:
        with console.status(f"{backend.name}: waiting for {server.base_url}/healthz"):
            server.wait_healthy()
        shape = f"{workers} worker{'s' * (workers > 1)}"
        if args.server != "uvicorn":
            shape += f", {args.server}"
        for scenario, spread in (("d", "uniform"), ("d-hot", "hot credit")):
            if shutil.which("wrk"):
                label = f"d. HTTP, {spread} (wrk, {shape})"
                results.append(
                    run_http_wrk(
                        backend.name, server, len(ids), scenario, label, args.seconds, CLIENTS,
                        api_key,
                    )
                )  # fmt: skip
            elif scenario == "d":
                label = f"d. HTTP, uniform (httpx, {shape})"
                results.append(
                    run_http(
                        backend.name, server.base_url, ids, "d", label, args.seconds, CLIENTS,
                        api_key,
                    )
                )  # fmt: skip
    except Exception as exc:
        problems.append(f"{backend.name}: HTTP scenario failed: {exc}")
        console.print(f"[red]{problems[-1]}[/red]")
        console.print(server.log_tail())
    finally:
        with console.status(f"{backend.name}: stopping paycore serve"):
            server.stop()
    return results


def bench_python_floor(
    backend: Backend, ids: Sequence[str], seconds: float, problems: list[str]
) -> list[Result]:
    results: list[Result] = []
    with console.status(f"{backend.name}: creating the floor tables"):
        backend.floor.setup(ids)
    for scenario, label in (
        ("floor-uniform", "floor, uniform"),
        ("floor-hot", "floor, hot credit"),
    ):
        results.append(
            run_floor(backend.name, backend.floor, ids, scenario, label, seconds, CLIENTS)
        )
    report_floor_sums(backend.name, backend.floor.sums(), problems)
    return results


def bench_pgbench_floor(
    dsn: str, accounts: int, seconds: float, problems: list[str]
) -> list[Result]:
    results: list[Result] = []
    with console.status("postgres: creating the pgbench floor tables"):
        pgbench_floor.setup(dsn, accounts)
    for scenario, label, hot in (
        ("floor-uniform", "floor, uniform (pgbench)", False),
        ("floor-hot", "floor, hot credit (pgbench)", True),
    ):
        with console.status(f"postgres: {label} for {max(1, round(seconds))} s"):
            run = pgbench_floor.run(
                dsn, hot=hot, accounts=accounts, amount_max=AMOUNT_MAX, clients=CLIENTS,
                seconds=seconds,
            )  # fmt: skip
        result = Result(
            backend="postgres",
            scenario=scenario,
            label=label,
            clients=CLIENTS,
            per_call=1,
            transfers=run.transfers,
            seconds=run.seconds,
            p50_ms=run.p50_ms,
            p99_ms=run.p99_ms,
            errors=run.failed,
            first_error="pgbench failed transactions" if run.failed else None,
        )
        console.print(
            f"  postgres {label:<34} {result.transfers:,} transfers, {result.tps:,.0f}/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms"
        )
        results.append(result)
    report_floor_sums("postgres", pgbench_floor.sums(dsn), problems)
    return results


def report_floor_sums(backend: str, sums: tuple[int, int, int, int], problems: list[str]) -> None:
    dp, cp, rows, amounts = sums
    balanced = dp == cp == amounts
    if not balanced:
        problems.append(f"{backend}: floor not balanced")
    colour = "green" if balanced else "red"
    console.print(
        f"{backend}: floor [{colour}]{'balanced' if balanced else 'NOT balanced'}[/{colour}]"
        f" ({rows:,} transfers, debits {dp:,}, credits {cp:,})"
    )


# -- report -----------------------------------------------------------------------------------

COLUMNS = (
    "backend",
    "scenario",
    "clients",
    "per call",
    "transfers",
    "transfers/s",
    "p50 ms",
    "p99 ms",
    "vs floor",
    "server CPU ms/req",
    "failed",
)


def row_cells(r: Result) -> list[str]:
    return [
        r.backend,
        r.label,
        str(r.clients),
        f"{r.per_call:,}",
        f"{r.transfers:,}",
        f"{r.tps:,.0f}",
        f"{r.p50_ms:.2f}",
        f"{r.p99_ms:.2f}",
        f"{r.vs_floor:.2f}x" if r.vs_floor is not None else "",
        f"{r.server_cpu_ms:.3f}" if r.server_cpu_ms is not None else "",
        f"{r.errors:,}",
    ]


def print_table(results: Sequence[Result], title: str) -> None:
    table = Table(title=title)
    for i, name in enumerate(COLUMNS):
        table.add_column(name, justify="left" if i < 2 else "right")
    previous = None
    for r in results:
        if previous is not None and r.backend != previous:
            table.add_section()
        previous = r.backend
        table.add_row(*row_cells(r))
    console.print(table)


def markdown_table(results: Sequence[Result]) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    lines += ["| " + " | ".join(row_cells(r)) + " |" for r in results]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="dropped and recreated")
    parser.add_argument("--sqlite-path", default=DEFAULT_SQLITE_PATH, help="recreated")
    parser.add_argument("--seconds", type=float, default=5.0, help="per scenario")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="--seconds 1 --accounts 1000")
    parser.add_argument(
        "--only", default=",".join(SCENARIO_GROUPS), help="comma-separated: inprocess,http,floor"
    )
    parser.add_argument(
        "--http-workers", type=int, default=0, help="paycore serve --workers (default per backend)"
    )
    parser.add_argument(
        "--server", choices=("uvicorn", "granian"), default="uvicorn", help="paycore serve --server"
    )
    args = parser.parse_args(argv)
    args.only = {g.strip() for g in args.only.split(",") if g.strip()}
    if not args.only or args.only - set(SCENARIO_GROUPS):
        parser.error(f"--only takes {', '.join(SCENARIO_GROUPS)}")
    if args.quick:
        args.seconds, args.accounts = 1.0, 1_000
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown or not backends:
        parser.error(f"--backends takes sqlite and/or postgres, not {args.backends!r}")
    args.backends = backends
    if not 0 < args.seconds <= 600:
        parser.error("--seconds is more than 0 and at most 600")
    if not 2 <= args.accounts <= 1_000_000:
        parser.error("--accounts is 2 to 1,000,000")
    return args


GIL_SWITCH_INTERVAL_S = 0.0002
"""The in-process scenarios run 16 client threads beside the ledger's writer thread. With
CPython's default 5 ms switch interval the writer waits for the GIL after every database
call; a program that embeds the Ledger among many threads should shorten it the same way."""


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    pg_url = check_pg_url(args.pg_url) if "postgres" in args.backends else None
    sqlite_path = Path(args.sqlite_path)
    log_dir = sqlite_path.parent
    environment = (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; {args.accounts:,} accounts, "
        f"{args.seconds:g} s per scenario, GIL switch interval {GIL_SWITCH_INTERVAL_S * 1000:g} ms"
    )
    console.print(f"[bold]paycore ledger benchmark[/bold]: {environment}")
    results: list[Result] = []
    versions: list[str] = []
    problems: list[str] = []
    for name in args.backends:
        try:
            if name == "sqlite":
                backend = reset_sqlite(sqlite_path)
            else:
                assert pg_url is not None
                with console.status(f"postgres: recreating {pg_url.database}"):
                    backend = reset_postgres(pg_url)
        except (OSError, psycopg.Error) as exc:
            problems.append(f"{name}: cannot prepare the database, skipped: {exc}")
            console.print(f"[red]{problems[-1]}[/red]")
            continue
        versions.append(backend.version)
        results.extend(bench_backend(backend, args, log_dir, problems))

    if not results:
        console.print("[red]" + "\n".join(problems) + "[/red]")
        return 1
    title = f"paycore ledger: {environment}"
    console.print()
    print_table(results, title)
    console.print()
    console.print(f"Markdown ({', '.join(versions)}; {environment}):\n")
    console.print(markdown_table(results), markup=False, highlight=False, soft_wrap=True)
    problems += [f"{r.backend} {r.scenario}: {r.errors:,} failed" for r in results if r.errors]
    if problems:
        console.print("\n[red]Problems:[/red]\n  " + "\n  ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
