"""Bills benchmark: one merchant's year of journal, and what issue 13 §5 asks of its bills.

For each backend it recreates a scratch database, migrates it and writes a merchant's
twelve months (bench/bills_data.py: pay-ins, fees, refunds, payouts, splits, with their
orders; `paycore ledger check` must pass on it), then measures:

  close_days   the day rollups of the whole year (a month then reads O(days) rows)
  statement    `Bills.statement(merchant, month)` over the 12 months, p50/p99, < 200 ms
  page         the plain-language bill (HTML, through the HTTP route), p50/p99, < 500 ms
  export       a CSV export of 1,000,000 lines, >= 50,000 lines/s, with flat memory (peak
               RSS above the start, after 100,000 lines and after all of them)
  check        `Bills.check(month)`, the proof against the journal
  storm        pay-in p99 during 200 concurrent bills over before (bench/bills_storm.py), <= 1.2

Beside each wall figure: the CPU it cost (this process; on PostgreSQL also the server's
backends, from /proc), and a floor measured in the same run on the same data: plain SQL
over the month's rollup rows for a statement, `csv.writer` over a plain SELECT for the
export. On a shared 2-CPU machine rates are noise; CPU per operation and ratios are not.

    .venv/bin/python bench/bills.py --quick                     # both backends, 100k entries
    .venv/bin/python bench/bills.py --backends sqlite           # 1,000,000 entries
    .venv/bin/python bench/bills.py --backends postgres         # 10,000,000 entries
    .venv/bin/python bench/bills.py --backends postgres --reuse --only export,storm

--reuse measures the year the last run made again (its rollups dropped and rebuilt);
--only runs some steps (close_days always: the reads stand on it). Files: bills_data.py
and bills_writer.py make the year, bills_steps.py and bills_http.py measure it.

PostgreSQL must be reachable at --pg-url (a database named *bench* on 127.0.0.1, which
is dropped and recreated). The table goes to var/bench/bills.md as markdown too.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import bills_data as data
import bills_http as http
import bills_steps as steps
from bills_steps import Row
from common import check_pg_url, reset_postgres, reset_sqlite
from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Router
from paycore.clock import ManualClock
from paycore.platform.config import Settings
from paycore.platform.db import make_engine, upgrade
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from proc_cpu import CpuMeter, postgres_backends

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_bills"
DEFAULT_SQLITE_PATH = "./var/bench/bills.db"
DEFAULT_ENTRIES = {"sqlite": 1_000_000, "postgres": 10_000_000}
QUICK_ENTRIES = 100_000
REPORT = Path("var/bench/bills.md")

console = Console(width=None if sys.stdout.isatty() else 150)


@dataclass
class Measured:
    backend: str
    entries: int
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    version: str = ""


STEPS: list[Callable[[steps.Context], list[Row]]] = [
    steps.ledger_check,
    steps.close_days,
    steps.statement,
    steps.check,
    http.page,
    steps.export,
    http.storm,
]


def build_runtime(url: str, clock: ManualClock) -> Runtime:
    registry = ChannelRegistry(clock=clock)
    return Runtime.build(
        # The page is timed one call after another: admission's limits (1 bill a second, 0.2 s
        # of bills a second) are the storm's business, not the page's latency.
        Settings(
            database_url=url,
            expiry_interval_s=3600.0,
            bills_rate_per_s=1000.0,
            bills_burst=1000,
            bills_time_share=1000.0,
        ),
        engine=make_engine(url),
        clock=clock,
        channels=Channels(registry, Router(registry, [])),
        cipher=FieldCipher({"bench": b"\x02" * 32}, "bench"),
    )


def generate(name: str, rt: Runtime, entries: int, server: Any, m: Measured) -> None:
    progress = Progress(
        TextColumn(f"[bold]{name}[/bold] generating"),
        BarColumn(bar_width=30),
        TextColumn("{task.completed}/{task.total} days, {task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    )
    meter = CpuMeter({"server": server}) if server else None
    started = time.perf_counter()
    with progress:
        task = progress.add_task("", total=data.DAYS, info="")

        def tick(days: int, written: int) -> None:
            rate = written / max(time.perf_counter() - started, 1e-9)
            progress.update(task, completed=days, info=f"{written:,} entries, {rate:,.0f}/s")

        out = data.generate(rt.engine, rt.ledger, entries, tick)
    server_s = meter.spent()["server"].total_s if meter else None
    m.entries = out.entries
    cpu = f"{out.cpu_s / out.entries * 1e6:.1f} µs/entry"
    if server_s is not None:
        cpu += f" + server {server_s / out.entries * 1e6:.1f}"
    m.rows.append(
        Row(
            "generate (journal + orders)",
            f"{out.entries:,} entries, {out.transfers:,} transfers, {out.orders:,} orders in "
            f"{out.seconds:.0f} s = {out.entries / out.seconds:,.0f} entries/s",
            cpu,
        )
    )
    if out.refused:
        m.problems.append(f"{name}: the ledger refused {out.refused} planned chains")


BILLS_TABLES = ("bills_account_days", "bills_day_balances", "bills_closed_days", "bills_statements")


def reuse(rt: Runtime, m: Measured) -> None:
    """--reuse: the year generated by an earlier run, its rollups and seals dropped so that
    close_days is measured again."""
    with rt.engine.begin() as conn:
        m.entries = conn.exec_driver_sql("SELECT count(*) FROM ledger_entries").scalar_one()
        for table in BILLS_TABLES:
            conn.exec_driver_sql(f"DELETE FROM {table}")
    if not m.entries:
        raise SystemExit(f"{m.backend}: --reuse, but the database holds no journal")
    m.rows.append(Row("generate", f"reused: {m.entries:,} entries from an earlier run"))


def bench_backend(name: str, url: str, entries: int, args: argparse.Namespace) -> Measured:
    """One backend, in a process of its own (see main): its RSS and CPU are its own."""
    m = Measured(name, entries)
    upgrade(url)
    clock = ManualClock(start=datetime(2025, 11, 20, tzinfo=UTC))
    rt = build_runtime(url, clock)
    server = postgres_backends(rt.engine.url.database or "") if name == "postgres" else None
    try:
        with rt.engine.connect() as conn:
            m.version = conn.exec_driver_sql(
                "SELECT sqlite_version()" if name == "sqlite" else "SHOW server_version"
            ).scalar_one()
            m.version = f"{'SQLite' if name == 'sqlite' else 'PostgreSQL'} {m.version}"
        if args.reuse:
            reuse(rt, m)
        else:
            rt.merchants.create(name="Bench bills shop", fee_bps=data.FEE_BPS,
                                merchant_id=data.MERCHANT)  # fmt: skip
            generate(name, rt, entries, server, m)
        # The bills are read after the year: every day of it is finished.
        clock.advance((datetime(2026, 12, 6, 2, tzinfo=UTC) - clock.now()).total_seconds())
        ctx = steps.Context(name, rt, url, server, console, args)
        for step in STEPS:
            if args.only and step.__name__ not in args.only:
                continue
            try:
                m.rows += step(ctx)
            except Exception as exc:  # one missing piece must not hide the others' figures
                detail = f"{type(exc).__name__}: {exc}"[:300]
                m.rows.append(Row(step.__name__, "failed", verdict="error"))
                m.problems.append(f"{name} {step.__name__}: {detail}")
                console.print(f"[red]{name} {step.__name__}: {detail}[/red]")
    finally:
        rt.close()
    return m


def in_own_process(work: Callable[..., Measured], *args: object) -> Measured:
    """Forked (the parent holds no connection yet): the child's peak RSS is its own."""
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(work, *args).result()


COLUMNS = ("backend", "measure", "value", "CPU", "floor (same run)", "goal", "verdict")


def cells(m: Measured, r: Row) -> list[str]:
    return [m.backend, r.measure, r.value, r.cpu, r.floor, r.goal, r.verdict]


def print_table(results: Sequence[Measured], title: str) -> None:
    table = Table(title=title, show_lines=True)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for m in results:
        for r in m.rows:
            colour = {"met": "green", "not met": "red"}.get(r.verdict, "")
            row = cells(m, r)
            if colour:
                row[-1] = f"[{colour}]{r.verdict}[/{colour}]"
            table.add_row(*row)
        table.add_section()
    console.print(table)


def markdown(results: Sequence[Measured], environment: str) -> str:
    lines = [
        f"Bills benchmark ({environment}; {', '.join(m.version for m in results)})",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for m in results:
        for r in m.rows:
            lines.append("| " + " | ".join(c.replace("|", "/") for c in cells(m, r)) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    parser.add_argument(
        "--entries",
        type=int,
        default=0,
        help="journal entries (default 1,000,000 SQLite, 10,000,000 PostgreSQL)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_ENTRIES:,} entries, fewer calls"
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="dropped and recreated")
    parser.add_argument("--sqlite-path", default=DEFAULT_SQLITE_PATH, help="recreated")
    parser.add_argument("--export-lines", type=int, default=1_000_000)
    parser.add_argument("--statements", type=int, default=50, help="statement calls measured")
    parser.add_argument("--pages", type=int, default=24, help="page calls measured")
    parser.add_argument("--no-storm", action="store_true", help="skip bench/bills_storm.py")
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument("--report", default=str(REPORT))
    parser.add_argument("--reuse", action="store_true", help="measure the last run's year again")
    args = parser.parse_args(argv)  # fmt: skip
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.backends or set(args.backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    if args.quick:
        args.entries = args.entries or QUICK_ENTRIES
        args.export_lines = min(args.export_lines, 100_000)
        args.statements, args.pages = min(args.statements, 24), min(args.pages, 12)
    if args.entries and not 10_000 <= args.entries <= 50_000_000:
        parser.error("--entries is 10,000 to 50,000,000")
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    if args.only:
        args.only.add("close_days")  # every read below stands on the day rollups
    return args


def reuse_url(name: str, args: argparse.Namespace) -> str:
    if name == "sqlite":
        return f"sqlite:///{Path(args.sqlite_path).resolve()}"
    url = check_pg_url(args.pg_url).set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    environment = (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    console.print(f"[bold]paycore bills benchmark[/bold]: {environment}")
    results: list[Measured] = []
    for name in args.backends:
        entries = args.entries or DEFAULT_ENTRIES[name]
        if args.reuse:
            url = reuse_url(name, args)
        elif name == "sqlite":
            url = reset_sqlite(Path(args.sqlite_path))
        else:
            url = reset_postgres(check_pg_url(args.pg_url))
        started = time.perf_counter()
        results.append(in_own_process(bench_backend, name, url, entries, args))
        console.print(f"{name}: done in {timedelta(seconds=round(time.perf_counter() - started))}")
    title = f"paycore bills: one merchant's year ({environment})"
    print_table(results, title)
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(results, environment)
    report.write_text(text)
    console.print(f"\nMarkdown in {report}:\n")
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    problems = [p for m in results for p in m.problems]
    if problems:
        console.print("[red]Problems:[/red]\n  " + "\n  ".join(problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
