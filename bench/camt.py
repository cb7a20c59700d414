"""camt.053 import benchmark: entries imported per CPU second of the importing process.

Writes one camt.053.001.02 statement of N entries (`camt_writer`, the format the tests
build), then imports it on a fresh database through `Recon.import_file`, the path the CLI,
the API and the inbox take: the XSD pass, parsing every entry, storing the lines in one
transaction with the statement's balances judged. Only the import is timed.

The machine is shared, so the figure to compare is entries per *CPU* second of this
process (time.process_time), printed beside wall time; peak RSS shows whether memory
stays flat as N grows. The file is then parsed again without storing anything ("of
which parse CPU s": the XSD pass and the parser), to show what storing costs. Each size
runs in a process of its own, so its peak RSS is its own.

    .venv/bin/python bench/camt.py                                # 100,000 entries, SQLite
    .venv/bin/python bench/camt.py --entries 100000 1000000
    .venv/bin/python bench/camt.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_camt

`measure(backend_url, entries, workdir)` is what another benchmark calls (bench/recon.py).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from common import check_pg_url, reset_postgres, reset_sqlite
from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Router
from paycore.clock import ManualClock
from paycore.platform.config import Settings
from paycore.platform.db import make_engine, upgrade
from paycore.recon import formats
from paycore.recon.camt_writer import StatementHeader, write_camt053
from paycore.recon.model import Counterparty, Direction, LineKind, LineStatus, StatementLine
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher

DEFAULT_WORKDIR = Path("/tmp/camt")
ENTRIES_MAX = 5_000_000
DAY = date(2026, 3, 10)
BOOKED_AT = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
SOURCE = "bank_bench"
console = Console()


def statement_lines(n: int) -> Iterator[StatementLine]:
    """A day's entries as a bank lists them: mostly pay-ins naming the payer, with our
    order id as EndToEndId and the bank's own transaction id; a payout in ten."""
    for i in range(n):
        payout = i % 10 == 9
        yield StatementLine(
            line_no=i + 1,
            source_ref=f"ACSR{i:09d}",
            kind=LineKind.PAYOUT if payout else LineKind.PAYIN,
            direction=Direction.DEBIT if payout else Direction.CREDIT,
            amount=1_000 + i % 977,
            currency="CNY",
            booked_at=BOOKED_AT + timedelta(seconds=i % 36_000),
            status=LineStatus.SUCCEEDED,
            channel_txn_id=f"T{i}",
            reference=f"pay_bench_{i:08d}",
            value_date=DAY,
            counterparty=Counterparty(account_number=f"62220{i:011d}", name=f"Payer {i % 5000}"),
        )


def write_statement(path: Path, n: int) -> None:
    header = StatementHeader(
        statement_id=f"BENCH-{n}",
        account_iban="CH9300762011623852957",
        currency="CNY",
        created_at=BOOKED_AT + timedelta(hours=20),
        period_start=DAY,
        period_end=DAY,
        opening_balance=10_000_000,
    )
    write_camt053(path, statement_lines(n), header)


def measure(backend_url: str, entries: int, workdir: Path = DEFAULT_WORKDIR) -> dict[str, Any]:
    """Import a camt.053 of `entries` entries into the (fresh, empty) database at
    `backend_url`: entries, wall and process CPU seconds, entries per CPU second, and
    the process's peak RSS (MB; the whole process's, so run it in a fresh one)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"camt053-{entries}.xml"
    if not path.exists():
        write_statement(path, entries)
    upgrade(backend_url)
    engine = make_engine(backend_url)
    clock = ManualClock(start=BOOKED_AT + timedelta(hours=22))
    registry = ChannelRegistry(clock=clock)
    runtime = Runtime.build(
        Settings(database_url=backend_url, expiry_interval_s=60.0, data_dir=str(workdir)),
        engine=engine,
        clock=clock,
        channels=Channels(registry, Router(registry, [])),
        cipher=FieldCipher({"bench": b"\x01" * 32}, "bench"),
    )
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        found, created = runtime.recon.import_file(path, format="camt053", source=SOURCE)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        runtime.close()
        engine.dispose()
    if not created or found["line_count"] != entries:
        raise SystemExit(f"imported {found['line_count']} lines of {entries} entries")
    parse_cpu = time.process_time()
    statement = formats.parse("camt053", path, source=SOURCE)
    parsed = sum(1 for _line in statement.lines)
    parse_cpu = time.process_time() - parse_cpu
    if parsed != entries:
        raise SystemExit(f"parsed {parsed} lines of {entries} entries")
    return {
        "backend": backend_url.split(":", 1)[0].split("+", 1)[0],
        "entries": entries,
        "wall_s": wall,
        "cpu_s": cpu,
        "entries_per_cpu_s": entries / cpu,
        "parse_cpu_s": parse_cpu,  # the XSD pass and the parser alone, nothing stored
        "peak_rss_mb": peak_rss_mb,
        "warnings": found["warning_count"],
    }


def _measure_fresh(backend: str, pg_url: str | None, entries: int, workdir: Path) -> dict[str, Any]:
    if backend == "sqlite":
        url = reset_sqlite(workdir / "camt.db")
    else:
        url = reset_postgres(check_pg_url(pg_url or ""))
    return measure(url, entries, workdir)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[100_000])
    parser.add_argument("--pg-url", help="also PostgreSQL: a scratch database (dropped)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args(argv)
    if not all(100 <= n <= ENTRIES_MAX for n in args.entries):
        parser.error(f"--entries is 100 to {ENTRIES_MAX:,}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ([] if args.no_sqlite else ["sqlite"]) + (["postgres"] if args.pg_url else [])
    results = []
    context = multiprocessing.get_context("spawn")
    for backend in backends:
        for n in args.entries:
            console.print(f"[{backend}] importing {n:,} entries")
            # A process per run: peak RSS is then this run's own.
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                job = pool.submit(_measure_fresh, backend, args.pg_url, n, args.workdir)
                results.append(job.result())
    table = Table(title="paycore camt.053 import (XSD pass, parse, store), per CPU second")
    columns = [
        "backend", "entries", "wall s", "CPU s", "entries/CPU s", "of which parse CPU s",
        "peak RSS MB",
    ]  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "backend" else "right")
    for r in results:
        table.add_row(
            r["backend"],
            f"{r['entries']:,}",
            f"{r['wall_s']:.1f}",
            f"{r['cpu_s']:.1f}",
            f"{r['entries_per_cpu_s']:,.0f}",
            f"{r['parse_cpu_s']:.1f}",
            f"{r['peak_rss_mb']:,.0f}",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
