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
              PostgreSQL runs with each of `--pg-workers` (1 and 2) server processes and
              prints how orders/s and CPU per pay-in change; SQLite runs with 1.
  latency     the issue's latency goal: `--rate` pay-ins/s (200) offered open-loop for
              `--rate-seconds`, whatever the answers; create p50/p99 from each request's
              scheduled start, against p99 < 100 ms. A server that falls behind piles up
              512 waiting requests, then the offer is cut (counted as not sent).
  failover    open-loop load at half the throughput measured; then bank-a starts hanging
              (PUT /admin/faults {"hang": true, "hang_min_s": 5, "hang_max_s": 10}).
              failover s = from that PUT until every later request is answered by bank-b.
              Orders left result-unknown on bank-a must resolve once it answers again
              (hang off; the bank finishes the stalled requests and calls back).
  profile     (`--profile`, or `--scenarios profile` alone as `make profile` does) a
              throughput run with py-spy (`--gil`) on the server's workers and bank-a:
              CPU per pay-in of each process, and the server's and the bank's by library,
              by thread (event loop, thread pool, ledger writer, relay, ...) and by function.

Every order must end `succeeded` and `paycore ledger check` must pass after each backend.
Beside each run: **server CPU ms per final pay-in** (user + system time of the `paycore
serve` process and all its workers, from /proc, over the load and the wait for the last
callbacks, divided by the run's pay-ins that reached a final state), the same for each bank
and PostgreSQL's backends, and PostgreSQL's transactions and rows per pay-in. On a machine
shared with other jobs the rates move with the neighbours; the CPU per pay-in does not.
Logs, the banks' data and the SQLite database stay in --work-dir for a look afterwards.

    .venv/bin/python bench/payments.py                     # both backends, about 3-5 minutes
    .venv/bin/python bench/payments.py --backends postgres --pg-workers 1,2 --scenarios throughput
    .venv/bin/python bench/payments.py --backends sqlite --seconds 5 --profile

PostgreSQL must be reachable at --pg-url (a database named *bench* on 127.0.0.1, which is
dropped and recreated). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
import psycopg
from rich.table import Table
from sqlalchemy import Engine

from common import check_pg_url
from paycore.channels.health import BreakerPolicy
from paycore.payments.details import use_cipher
from paycore.platform.db import make_engine
from payin_load import (
    CARD_NUMBER,
    IN_FLIGHT_MAX,
    NOT_SENT,
    PayinClient,
    Sample,
    closed_loop,
    open_loop,
)
from payments_failover import failover
from payments_measure import (
    SERVER,
    Row,
    cpu_cell,
    one_payin,
    percentile_ms,
    pg_counters,
    record_costs,
    start_meter,
    wait_resolved,
    warm_up,
)
from payments_report import TARGET_P99_MS, markdown, print_table, verdict
from payments_setup import (
    BANK_FAULTS,
    Bank,
    Server,
    Site,
    console,
    postgres_site,
    run_cli,
    serving,
    sqlite_site,
)
from proc_cpu import MACHINE, Cpu
from pyspy_report import Profile, print_profile, read_profiles

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_payments"
DEFAULT_WORK_DIR = "./var/bench/payments"
BANKS = ("bank-a", "bank-b")
FAILOVER_RATE_MIN, FAILOVER_RATE_MAX = 10.0, 500.0
PROFILE_RATE = "200"  # samples a second
PROFILE_ROWS = 15
SCENARIOS = ("throughput", "latency", "failover", "profile")


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
    label = f"{site.backend}: throughput, {workers} worker(s), {args.clients} clients"
    with serving(site, workers, product) as server:
        warm_up(server, site, engine)
        pg_before = pg_counters(site)
        meter = start_meter(site, server, banks)
        with console.status(f"{label}, {args.seconds:g} s"):
            row = closed_load(server, site, product, args)
        with console.status(f"{label}: waiting for the callbacks"):
            stats = wait_resolved(engine, product)
        spent = meter.spent()
        if row.errors:
            row.notes.append(f"one more pay-in: {asyncio.run(one_payin(server, site, product))}")
    record_costs(row, stats, spent, pg_before, pg_counters(site))
    console.print(
        f"{label}: {row.requests_s:,.0f} requests/s, [bold]{row.orders_s or 0:,.0f} orders/s end "
        f"to end, {cpu_cell(row)} server CPU ms per pay-in[/bold], p50 {row.p50_ms:.1f} ms, "
        f"p99 {row.p99_ms:.1f} ms, {row.errors} errors"
    )
    for note in row.notes:
        console.print(f"  {note}")
    return row


def closed_load(server: Server, site: Site, product: str, args: argparse.Namespace) -> Row:
    if args.load == "wrk":
        return run_wrk(server, site, product, args.clients, args.seconds)
    return run_asyncio_load(server, site, product, args.clients, args.seconds)


def scaling_note(rows: Sequence[Row]) -> str:
    """How orders/s and CPU per pay-in change with more server processes."""
    base = rows[0]
    parts = []
    for r in rows[1:]:
        ratio = (r.orders_s or 0.0) / base.orders_s if base.orders_s else 0.0
        parts.append(
            f"{r.workers} workers: {ratio:.2f}x the orders/s of {base.workers} "
            f"(server CPU ms per pay-in {cpu_cell(base)} -> {cpu_cell(r)})"
        )
    return "; ".join(parts)


async def _offer(
    server: Server, site: Site, product: str, rate: float, seconds: float
) -> list[Sample]:
    client = PayinClient(server.port, site.merchant_key, product)
    stop = asyncio.Event()
    load = asyncio.create_task(open_loop(client, rate, stop))
    await asyncio.sleep(seconds)
    stop.set()
    samples = await load
    client.close()
    return samples


def latency(
    site: Site, engine: Engine, banks: Sequence[Bank], workers: int, args: argparse.Namespace
) -> Row:
    """The issue's latency goal: POST /v1/payins at a fixed rate whatever the answers (open
    loop: a slow answer does not slow the offer down), latency from the scheduled start."""
    product = f"latency_{workers}w"
    label = f"{site.backend}: {args.rate:g} pay-ins/s offered (open loop), {workers} worker(s)"
    with serving(site, workers, product) as server:
        warm_up(server, site, engine)
        pg_before = pg_counters(site)
        meter = start_meter(site, server, banks)
        with console.status(f"{label}, {args.rate_seconds:g} s"):
            started = time.perf_counter()
            samples = asyncio.run(_offer(server, site, product, args.rate, args.rate_seconds))
            elapsed = time.perf_counter() - started
        with console.status(f"{label}: waiting for the callbacks"):
            stats = wait_resolved(engine, product)
        spent = meter.spent()
    sent = [s for s in samples if s.error != NOT_SENT]
    ok = [s.latency_s for s in sent if s.status == 201]
    row = Row(
        backend=site.backend,
        scenario="open loop (create latency)",
        workers=workers,
        clients=f"{args.rate:g}/s open",
        requests_s=len(sent) / elapsed,
        orders_s=None,
        p50_ms=percentile_ms(ok, 50),
        p99_ms=percentile_ms(ok, 99),
        errors=sum(1 for s in sent if s.status != 201),
    )
    if len(sent) < len(samples):
        row.notes.append(
            f"{len(samples) - len(sent):,} of {len(samples):,} offered pay-ins not sent: "
            f"{IN_FLIGHT_MAX} were already waiting (the server fell behind the offer)"
        )
    record_costs(row, stats, spent, pg_before, pg_counters(site))
    met = "[green]met[/green]" if ok and row.p99_ms < TARGET_P99_MS else "[red]missed[/red]"
    console.print(
        f"{label}: [bold]create p50 {row.p50_ms:.1f} ms, p99 {row.p99_ms:.1f} ms[/bold] "
        f"(p99 < {TARGET_P99_MS:g} ms {met}), {row.requests_s:,.0f} sent/s, "
        f"{row.orders_s or 0:,.0f} orders/s end to end, {cpu_cell(row)} server CPU ms per pay-in"
    )
    for note in row.notes:
        console.print(f"  {note}")
    return row


def profile(
    site: Site, engine: Engine, banks: Sequence[Bank], workers: int, args: argparse.Namespace
) -> Row | None:
    """A throughput run with py-spy (GIL-holding samples only) on the server's workers and
    bank-a: CPU per final pay-in of each process, and where the Python part of it goes."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        console.print("[yellow]--profile: py-spy not found (pip install py-spy)[/yellow]")
        return None
    product = "profile"
    label = f"{site.backend}: profile, {workers} worker(s), {args.clients} clients"
    with serving(site, workers, product) as server:
        warm_up(server, site, engine)
        targets = {f"worker {pid}": pid for pid in server.worker_pids()}
        targets[banks[0].name] = banks[0].proc.pid
        outputs = {name: site.work / f"profile-{pid}.txt" for name, pid in targets.items()}
        record = [py_spy, "record", "--gil", "--nonblocking", "-f", "raw", "-r", PROFILE_RATE]
        # py-spy stops on its own a little after the load: a sample needs a live process.
        duration = str(max(2, round(args.seconds)))
        pg_before = pg_counters(site)
        meter = start_meter(site, server, banks)
        spies = [
            subprocess.Popen(
                [*record, "-d", duration, "-o", str(outputs[name]), "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in targets.items()
        ]
        with console.status(f"{label}, {args.seconds:g} s"):
            row = closed_load(server, site, product, args)
            for spy in spies:
                spy.wait(timeout=args.seconds + 60)
        with console.status(f"{label}: waiting for the callbacks"):
            stats = wait_resolved(engine, product)
        spent = meter.spent()
    row.scenario = f"profiled ({row.scenario})"
    record_costs(row, stats, spent, pg_before, pg_counters(site))
    console.rule(f"[bold]{label}: where a pay-in's CPU goes[/bold]")
    for note in row.notes:
        console.print(f"  {note}")
    profiles = {
        SERVER: read_profiles(p for name, p in outputs.items() if name.startswith("worker")),
        banks[0].name: read_profiles([outputs[banks[0].name]]),
    }
    print_process_table(label, spent, row.final, profiles)
    for name, found in profiles.items():
        ms = spent[name].total_s * 1000 / row.final if row.final else None
        print_profile(console, f"{site.backend}: {name}", found, ms, rows=PROFILE_ROWS)
    return row


def print_process_table(
    label: str, spent: dict[str, Cpu], final: int, profiles: dict[str, Profile]
) -> None:
    table = Table(title=f"{label}: CPU per final pay-in by process ({final:,} pay-ins)")
    for i, column in enumerate(
        ("process", "CPU ms/pay-in", "user ms", "kernel ms", "profiled (GIL samples)")
    ):
        table.add_column(column, justify="left" if i == 0 else "right")
    for name, cpu in spent.items():
        per = 1000 / final if final else 0.0
        found = profiles.get(name)
        table.add_row(
            name if name != MACHINE else f"{MACHINE} (every program on it)",
            f"{cpu.total_s * per:.2f}",
            f"{cpu.user_s * per:.2f}" if name != MACHINE else "",
            f"{cpu.system_s * per:.2f}" if name != MACHINE else "",
            f"{found.samples:,}" if found is not None else "",
        )
    console.print(table)


def bench_backend(
    site: Site, banks: Sequence[Bank], args: argparse.Namespace, problems: list[str]
) -> list[Row]:
    console.rule(f"[bold]{site.backend}[/bold]  {site.version}")
    with console.status(f"{site.backend}: migrating, creating the merchant and its keys"):
        site.prepare(banks)
    engine = make_engine(site.url, pool_size=2)
    use_cipher(engine, site.answers_cipher(engine))  # order_stats opens the stored answers
    rows: list[Row] = []
    try:
        choices = args.pg_workers if site.backend == "postgres" else [1]
        best_workers, failover_rate = choices[0], FAILOVER_RATE_MIN
        if "throughput" in args.scenarios:
            measured = [throughput(site, engine, banks, w, args) for w in choices]
            rows += measured
            best = max(measured, key=lambda r: r.orders_s or 0.0)
            best_workers = best.workers
            rate = (best.orders_s or 0.0) / 2
            failover_rate = min(max(rate, FAILOVER_RATE_MIN), FAILOVER_RATE_MAX)
            if len(measured) > 1:
                console.print(f"{site.backend}: {scaling_note(measured)}")
                console.print(f"{site.backend}: best with {best_workers} worker(s)")
        if "latency" in args.scenarios and args.rate > 0:
            rows.append(latency(site, engine, banks, best_workers, args))
        if "failover" in args.scenarios:
            label = f"{site.backend}: failover, {best_workers} worker(s)"
            rows.append(failover(site, engine, banks[0], best_workers, failover_rate, label))
        if "profile" in args.scenarios:
            profiled = profile(site, engine, banks, best_workers, args)
            rows += [profiled] if profiled is not None else []
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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backends", default="postgres,sqlite", help="comma-separated")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="dropped and recreated")
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR, help="emptied first")
    parser.add_argument("--seconds", type=float, default=10.0, help="of throughput load")
    parser.add_argument("--clients", type=int, default=32, help="concurrent, for throughput")
    parser.add_argument("--pg-workers", default="1,2", help="server processes to try")
    parser.add_argument("--load", choices=["auto", "wrk", "asyncio"], default="auto")
    parser.add_argument(
        "--rate", type=float, default=200.0, help="pay-ins/s offered open-loop (0: no run)"
    )
    parser.add_argument("--rate-seconds", type=float, default=6.0, help="of open-loop load")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS[:-1]),
        help=f"comma-separated, of {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--profile", action="store_true", help="add the profile scenario (py-spy on the server)"
    )
    parser.add_argument("--quick", action="store_true", help="--seconds 3 --pg-workers 2")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rate_seconds, args.pg_workers = 3.0, 3.0, "2"
    args.scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    if args.profile:
        args.scenarios.add("profile")
    if not args.scenarios or args.scenarios - set(SCENARIOS):
        parser.error(f"--scenarios takes {', '.join(SCENARIOS)}")
    if not 0 <= args.rate <= 5_000 or not 1 <= args.rate_seconds <= 600:
        parser.error("--rate is 0 to 5000, --rate-seconds 1 to 600")
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
