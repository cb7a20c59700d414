"""Warehouse export benchmark: a big journal to Parquet, with flat memory.

It recreates a scratch database, migrates it and fills the journal with --entries
synthetic entries fast, in SQL (generate_series on PostgreSQL, a recursive CTE on SQLite:
not through the ledger's service, whose cost is not what is measured here): 1,000
accounts, one transfer per two entries, spread over 10 business days. Then it measures:

  full         the first export of ledger_entries and ledger_transfers
  again        a re-run with nothing new (writes nothing)
  incremental  1% more entries, stamped in the last day already exported (as if
               committed late): new part files for the journal, and that day's
               transfers partition merged and rewritten

Each row gives the rows exported, wall seconds, this process's CPU per row, its peak
RSS (resource.getrusage) before and after the step, and the files written. Flat memory
shows as a peak RSS that does not grow with --entries.

    .venv/bin/python bench/warehouse_export.py                       # PostgreSQL, 10,000,000
    .venv/bin/python bench/warehouse_export.py --entries 1000000
    .venv/bin/python bench/warehouse_export.py --backend sqlite --entries 1000000

PostgreSQL must be reachable at --pg-url (a database named *bench* on 127.0.0.1, which is
dropped and recreated).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Column, Table
from sqlalchemy import Engine, text

from common import check_pg_url, reset_postgres, reset_sqlite
from paycore.clock import SystemClock
from paycore.platform.db import make_engine, upgrade
from paycore.warehouse.service import WarehouseExport

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_warehouse"
DEFAULT_SQLITE_PATH = "./var/bench/warehouse.db"
DEFAULT_ENTRIES = 10_000_000
ACCOUNTS = 1_000
DAYS = 10
TABLES = ("ledger_entries", "ledger_transfers")

console = Console(width=None if sys.stdout.isatty() else 150)

_PG_ACCOUNTS = """
INSERT INTO ledger_accounts (id, currency, code, owner_id, origin, flags, status, metadata,
  created_at, debits_pending, debits_posted, credits_pending, credits_posted)
SELECT 'acct_b_' || g, 'CNY', 10 + g % 5, 'mch_' || (g % 50), 'flow', 0, 'active', '{}',
  :start, 0, 0, 0, 0
FROM generate_series(1, :accounts) AS g
"""
_PG_TRANSFERS = """
INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency,
  flags, pending_id, timeout_s, code, metadata, created_at, expires_at, status)
SELECT 'tr_b_' || lpad(g::text, 12, '0'), 'acct_b_' || (g % :accounts + 1),
  'acct_b_' || ((g + 7) % :accounts + 1), 100 + g % 10000, 'CNY', 0, NULL, 0, 1, '{}',
  :start + (g * 2) * :step, NULL, 'posted'
FROM generate_series(:first, :last) AS g
"""
_PG_ENTRIES = """
INSERT INTO ledger_entries (account_id, transfer_id, event, side, amount, debits_pending,
  debits_posted, credits_pending, credits_posted, created_at)
SELECT 'acct_b_' || ((t + 7 * s) % :accounts + 1), 'tr_b_' || lpad(t::text, 12, '0'),
  'create', CASE s WHEN 0 THEN 'debit' ELSE 'credit' END, 100 + t % 10000, 0, 0, 0, 0,
  :start + (t * 2) * :step
FROM generate_series(:first, :last) AS t, (SELECT 0 AS s UNION ALL SELECT 1) AS sides
ORDER BY t, s
"""
_SQLITE_SERIES = (
    "WITH RECURSIVE series(g) AS (SELECT :first UNION ALL SELECT g + 1 FROM series"
    " WHERE g < :last) "
)


def _sqlite(statement: str) -> str:
    """The PostgreSQL fill in SQLite's words."""
    return (
        statement.replace("lpad(g::text, 12, '0')", "printf('%012d', g)")
        .replace("lpad(t::text, 12, '0')", "printf('%012d', t)")
        .replace(
            ":start + (g * 2) * :step", "datetime(:start, '+' || (g * 2 * :step) || ' seconds')"
        )
        .replace(
            ":start + (t * 2) * :step", "datetime(:start, '+' || (t * 2 * :step) || ' seconds')"
        )
        .replace("generate_series(1, :accounts) AS g", "series")
        .replace("generate_series(:first, :last) AS g", "series")
        .replace("generate_series(:first, :last) AS t", "(SELECT g AS t FROM series)")
    )


def fill(
    engine: Engine, *, first: int, last: int, start: datetime, step_s: float, accounts: bool
) -> None:
    """Transfers first..last and their two entries each, in seq (and time) order, an
    entry every `step_s` seconds from `start`."""
    postgres = engine.dialect.name == "postgresql"
    step: timedelta | float = timedelta(seconds=step_s) if postgres else step_s
    stamp = start if postgres else start.strftime("%Y-%m-%d %H:%M:%S")
    chunk = 500_000
    with engine.begin() as conn:
        if accounts:
            sql = _PG_ACCOUNTS if postgres else _SQLITE_SERIES + _sqlite(_PG_ACCOUNTS)
            conn.execute(
                text(sql), {"start": stamp, "accounts": ACCOUNTS, "first": 1, "last": ACCOUNTS}
            )
    for low in range(first, last + 1, chunk):
        high = min(low + chunk - 1, last)
        values = {"start": stamp, "step": step, "accounts": ACCOUNTS, "first": low, "last": high}
        with engine.begin() as conn:
            for statement in (_PG_TRANSFERS, _PG_ENTRIES):
                sql = statement if postgres else _SQLITE_SERIES + _sqlite(statement)
                conn.execute(text(sql), values)
        console.print(f"  filled {2 * high:,} entries", style="dim")
    with engine.begin() as conn:  # as autovacuum would have by then: the planner's figures
        conn.exec_driver_sql("ANALYZE ledger_accounts")
        conn.exec_driver_sql("ANALYZE ledger_transfers")
        conn.exec_driver_sql("ANALYZE ledger_entries")


@dataclass
class Step:
    name: str
    rows: int
    seconds: float
    cpu_us_per_row: float
    rss_before_mb: float
    rss_after_mb: float
    files: int


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(name: str, exporter: WarehouseExport) -> Step:
    before, cpu, wall = _peak_rss_mb(), _cpu_s(), time.perf_counter()
    results = exporter.export(tables=TABLES)
    seconds, used = time.perf_counter() - wall, _cpu_s() - cpu
    rows = sum(r.rows for r in results)
    files = sum(r.files for r in results)
    per_row = used / rows * 1e6 if rows else 0.0
    return Step(name, rows, seconds, per_row, before, _peak_rss_mb(), files)


def _print(steps: list[Step], backend: str, entries: int, fill_s: float) -> None:
    table = Table(
        "step",
        Column("rows", justify="right"),
        Column("seconds", justify="right"),
        Column("CPU µs/row", justify="right"),
        Column("peak RSS before MB", justify="right"),
        Column("peak RSS after MB", justify="right"),
        Column("files written", justify="right"),
        title=f"warehouse export, {backend}, {entries:,} journal entries"
        f" (filled in {fill_s:.0f} s)",
    )
    for s in steps:
        table.add_row(
            s.name,
            f"{s.rows:,}",
            f"{s.seconds:.1f}",
            f"{s.cpu_us_per_row:.1f}",
            f"{s.rss_before_mb:.0f}",
            f"{s.rss_after_mb:.0f}",
            str(s.files),
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--entries", type=int, default=DEFAULT_ENTRIES)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--sqlite-path", default=DEFAULT_SQLITE_PATH)
    parser.add_argument(
        "--out", type=Path, default=None, help="warehouse root (default: a temp dir)"
    )
    args = parser.parse_args()
    if args.backend == "postgres":
        url = reset_postgres(check_pg_url(args.pg_url))
    else:
        url = reset_sqlite(Path(args.sqlite_path))
    upgrade(url)
    engine = make_engine(url, pool_size=2)
    root = args.out or Path(tempfile.mkdtemp(prefix="paycore-warehouse-bench-"))
    transfers = args.entries // 2
    start = datetime.now(UTC) - timedelta(days=DAYS + 1)
    try:
        began = time.perf_counter()
        step_s = DAYS * 86_400 / (2 * max(transfers, 1))
        fill(engine, first=1, last=transfers, start=start, step_s=step_s, accounts=True)
        fill_s = time.perf_counter() - began
        exporter = WarehouseExport(engine, root, SystemClock())
        steps = [measure("full", exporter), measure("again", exporter)]
        more = max(transfers // 100, 1)
        # Stamped back into the last day already exported (entries committed late): new
        # part files for the journal, that day's transfers partition merged and rewritten.
        late = start + timedelta(days=DAYS - 1, seconds=-2 * transfers * step_s)
        fill(
            engine,
            first=transfers + 1,
            last=transfers + more,
            start=late,
            step_s=step_s / 10,
            accounts=False,
        )
        steps.append(measure("incremental", exporter))
        _print(steps, args.backend, args.entries, fill_s)
    finally:
        engine.dispose()
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
