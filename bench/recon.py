"""Reconciliation benchmark: a day's statement of N lines against N payment orders.

For each backend it recreates a scratch database, migrates it and bulk-inserts N
succeeded pay-in orders straight into `payment_orders` (setting up is not what is
measured: a million pay-ins through the payment flow would take an hour). Then it writes
a statement file and times, end to end through `Recon`:

  import   stream the file through its parser into recon_lines, one transaction
  run      match by channel txn id, then by reference + amount + date; record the breaks;
           book surplus money to suspense; query back unfinished orders

The statement has 1% of each break type: amount, status and fee mismatches, orders the
channel never shows (短款), money with no order (长款) and duplicated lines; one line
in ten carries only our reference (no txn id), so the second matching pass works too.
The breaks found are checked against those planted.

    .venv/bin/python bench/recon.py                              # both backends, 1,000,000
    .venv/bin/python bench/recon.py --lines 100000 --backends sqlite

The file format is a small CSV of this benchmark's own (`bench_csv`, parsed below), so
the figures measure recon rather than one channel's format. PostgreSQL must be reachable
at --pg-url (a database named *bench* on 127.0.0.1, which is dropped and recreated).

Each backend runs in a process of its own (forked), so its peak RSS and CPU are its own.
On a shared machine the rates are noise; the CPU columns are not: `CPU s` is this
process's (all of SQLite's work, the client's share of PostgreSQL's), `server CPU s` the
PostgreSQL backends' serving the database (read from /proc), and `lines/CPU s` the lines
per CPU second of the process. A camt.053 row comes from bench/camt.py when it is there.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, insert

from common import check_pg_url, reset_postgres, reset_sqlite
from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Router
from paycore.clock import ManualClock
from paycore.payments.store import orders
from paycore.platform.config import Settings
from paycore.platform.db import make_engine, upgrade
from paycore.recon import formats
from paycore.recon.model import (
    ControlTotals,
    Direction,
    LineKind,
    LineStatus,
    MalformedStatement,
    Statement,
    StatementInfo,
    StatementLine,
)
from paycore.recon.service import Recon
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from proc_cpu import CpuMeter, PidFinder, postgres_backends

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_recon"
DEFAULT_SQLITE_PATH = "./var/bench/recon.db"
CAMT_ENTRIES = 100_000
T = TypeVar("T")
LINES_MAX = 5_000_000
ORDER_CHUNK = 10_000
DAY = date(2026, 3, 10)
PAID_AT = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
CHANNEL = "bench"
STATEMENTS_SHOWN = 8
BREAK_TYPES = (
    "amount_mismatch",
    "status_mismatch",
    "fee_mismatch",
    "missing_on_channel_side",
    "missing_on_our_side",
    "duplicate",
)
console = Console(width=None if sys.stdout.isatty() else 150)

camt_row: Callable[..., dict[str, Any]] | None
try:  # bench/camt.py: a camt.053 import, entries per CPU second (wired in by the lead)
    from camt import measure as camt_row
except ImportError:
    camt_row = None


# -- the benchmark's own statement format -----------------------------------------------


def parse(path: Path, *, source: str | None = None) -> Statement:
    """`ref,txn,reference,amount,fee,booked_at` rows and a `#total,count,credits` trailer."""
    info = StatementInfo(format="bench_csv", source=source or CHANNEL, statement_id=path.name)
    statement = Statement(info, iter(()))

    def lines() -> Iterator[StatementLine]:
        count = credits = 0
        booked: dict[str, datetime] = {}
        with path.open(encoding="ascii", newline="") as f:
            for number, row in enumerate(csv.reader(f), start=1):
                if row[0] == "#total":
                    statement.totals = ControlTotals(int(row[1]), int(row[2]), 0)
                    if (count, credits) != (int(row[1]), int(row[2])):
                        raise MalformedStatement("totals disagree", line=number)
                    return
                ref, txn, reference, amount, fee, at = row
                when = booked.get(at) or booked.setdefault(at, datetime.fromisoformat(at))
                count += 1
                credits += int(amount)
                yield StatementLine(
                    line_no=number,
                    source_ref=ref,
                    kind=LineKind.PAYIN,
                    direction=Direction.CREDIT,
                    amount=int(amount),
                    currency="CNY",
                    booked_at=when,
                    status=LineStatus.SUCCEEDED,
                    channel_txn_id=txn or None,
                    reference=reference or None,
                    fee=int(fee),
                )
        raise MalformedStatement("no #total line")

    statement.lines = lines()
    return statement


# -- the planted day --------------------------------------------------------------------


FEE_BPS = 60
"""The channel's contracted pay-in fee: each line's fee is checked against it."""


def contract_fee(amount: int) -> int:
    return (amount * FEE_BPS + 5_000) // 10_000


def order_id(i: int) -> str:
    return f"pay_bench_{i:08d}"


def break_of(i: int) -> str | None:
    """One order in a hundred carries each planted break: 1% of the total per type."""
    slot = i % 100
    return BREAK_TYPES[slot] if slot < len(BREAK_TYPES) else None


def insert_orders(engine: Engine, n: int) -> None:
    def row(i: int) -> dict[str, object]:
        planted = break_of(i)
        status_off = planted == "status_mismatch"
        finished = PAID_AT - timedelta(days=1) if planted == "missing_on_channel_side" else PAID_AT
        return {
            "id": order_id(i),
            "kind": "payin",
            "merchant_id": "mch_bench",
            "merchant_reference": None,
            "product": "bench",
            "amount": 1_000 + i % 977,
            "currency": "CNY",
            "fee_amount": contract_fee(1_000 + i % 977),
            "status": "processing" if status_off else "succeeded",
            "result_unknown": False,
            "channel": CHANNEL,
            "channel_txn_id": f"T{i}",
            "failure_class": None,
            "failure_code": None,
            "failure_message": "",
            "parent_id": None,
            "refunded_amount": 0,
            "party_enc": {},
            "party_masked": {},
            "expires_at": None,
            "created_at": finished - timedelta(minutes=1),
            "updated_at": finished,
            "finished_at": None if status_off else finished,
            "next_query_at": PAID_AT + timedelta(days=30) if status_off else None,
            "query_attempts": 0,
            "version": 1,
        }

    with engine.begin() as conn:
        for start in range(0, n, ORDER_CHUNK):
            conn.execute(
                insert(orders), [row(i) for i in range(start, min(n, start + ORDER_CHUNK))]
            )
        if conn.dialect.name == "postgresql":
            # What autovacuum does after a bulk load on a production server (the test
            # server runs without it): a planner that thinks the channel has a few hundred
            # orders filters all of them instead of probing the index by txn id.
            conn.exec_driver_sql("ANALYZE payment_orders")


def write_statement(path: Path, n: int) -> int:
    at = PAID_AT.isoformat()
    count = credits = 0
    with path.open("w", encoding="ascii", newline="") as f:
        out = csv.writer(f)

        def line(ref: str, txn: str, reference: str, amount: int, fee: int) -> None:
            nonlocal count, credits
            out.writerow((ref, txn, reference, amount, fee, at))
            count += 1
            credits += amount

        for i in range(n):
            planted = break_of(i)
            amount = 1_000 + i % 977
            if planted == "missing_on_channel_side":
                continue
            if planted == "missing_on_our_side":
                line(f"S{i}", f"UNKNOWN{i}", "", 500, 0)
            txn, reference = (f"T{i}", "") if i % 10 != 7 else ("", order_id(i))
            fee = contract_fee(amount) + (1 if planted == "fee_mismatch" else 0)
            amount += 1 if planted == "amount_mismatch" else 0
            line(f"L{i}", txn, reference, amount, fee)
            if planted == "duplicate":
                line(f"L{i}", txn, reference, amount, fee)
        out.writerow(("#total", count, credits))
    return count


# -- measuring --------------------------------------------------------------------------


class StatementTimes:
    """Wall and process CPU seconds spent in each SQL statement the benchmark's timed part
    runs, keyed by its first words: shows which phase of an import or run the time goes
    to (on SQLite the CPU is the database's own work; on PostgreSQL the client's)."""

    def __init__(self, engine: Engine) -> None:
        self.seconds: dict[str, tuple[float, float]] = {}
        self.recording = False
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: object, cursor: object, statement: str, *_: object) -> None:
        self._started = (time.perf_counter(), time.process_time())

    def _after(self, conn: object, cursor: object, statement: str, *_: object) -> None:
        if self.recording:
            key = " ".join(statement.split())[:60]
            wall, cpu = self.seconds.get(key, (0.0, 0.0))
            self.seconds[key] = (
                wall + time.perf_counter() - self._started[0],
                cpu + time.process_time() - self._started[1],
            )

    def slowest(self, count: int) -> list[tuple[str, float, float]]:
        ranked = sorted(self.seconds.items(), key=lambda kv: -kv[1][0])[:count]
        return [(key, wall, cpu) for key, (wall, cpu) in ranked]


@dataclass
class Phase:
    wall_s: float = 0.0
    cpu_s: float = 0.0  # this process
    server_cpu_s: float | None = None  # PostgreSQL's backends of the database


@dataclass
class Measured:
    backend: str
    lines: int
    import_: Phase
    run: Phase
    breaks: dict[str, int]
    peak_rss_mb: float
    statements: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def lines_per_s(self) -> float:
        return self.lines / (self.import_.wall_s + self.run.wall_s)

    @property
    def cpu_s(self) -> float:
        return self.import_.cpu_s + self.run.cpu_s

    @property
    def server_cpu_s(self) -> float | None:
        if self.import_.server_cpu_s is None or self.run.server_cpu_s is None:
            return None
        return self.import_.server_cpu_s + self.run.server_cpu_s


def timed(action: Callable[[], object], server: PidFinder | None) -> tuple[object, Phase]:
    meter = CpuMeter({"server": server}) if server else None
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    phase = Phase(time.perf_counter() - wall, time.process_time() - cpu)
    if meter is not None:
        phase.server_cpu_s = meter.spent()["server"].total_s
    return result, phase


def bench_backend(name: str, url: str, n: int, workdir: Path) -> Measured:
    """One backend's import and run; meant for a process of its own (see main)."""
    formats.register("bench_csv", __name__, carries_fee=True)
    upgrade(url)
    engine = make_engine(url)
    clock = ManualClock(start=PAID_AT + timedelta(hours=20))
    registry = ChannelRegistry(clock=clock)
    runtime = Runtime.build(
        Settings(database_url=url, expiry_interval_s=60.0, data_dir=str(workdir)),
        engine=engine,
        clock=clock,
        channels=Channels(registry, Router(registry, [])),
        cipher=FieldCipher({"bench": b"\x01" * 32}, "bench"),
    )
    server = postgres_backends(engine.url.database or "") if name != "sqlite" else None
    try:
        console.print(f"[{name}] inserting {n:,} orders (set-up, not timed)")
        insert_orders(engine, n)
        path = workdir / f"statement-{name}.csv"
        lines = write_statement(path, n)
        recon = Recon(
            engine=engine,
            ledger=runtime.ledger,
            clock=clock,
            payments=runtime.payments,
            fee_bps_of=lambda _source: FEE_BPS,
        )
        times = StatementTimes(engine)
        times.recording = True
        _, imported = timed(
            lambda: recon.import_file(path, format="bench_csv", source=CHANNEL), server
        )
        report, ran = timed(lambda: recon.run(source=CHANNEL, business_date=DAY), server)
    finally:
        runtime.close()
        engine.dispose()
    breaks = dict(report["breaks_by_type"])  # type: ignore[index]
    planted = (n + 99) // 100  # of each type
    wrong = {t: c for t, c in breaks.items() if c != planted}
    if wrong or len(breaks) != len(BREAK_TYPES):
        raise SystemExit(f"[{name}] breaks found {breaks}, planted {planted} of each type")
    return Measured(
        name,
        lines,
        imported,
        ran,
        breaks,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        times.slowest(STATEMENTS_SHOWN),
    )


def in_own_process(work: Callable[..., T], *args: object) -> T:
    """Forked (the parent holds no connection yet): the child's peak RSS is its own."""
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(work, *args).result()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="orders (and lines)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--sqlite-path", default=DEFAULT_SQLITE_PATH)
    parser.add_argument(
        "--camt-entries",
        type=int,
        default=CAMT_ENTRIES,
        help="entries of the camt.053 row (bench/camt.py); 0: none",
    )
    args = parser.parse_args(argv)
    if not 100 <= args.lines <= LINES_MAX:
        parser.error(f"--lines is 100 to {LINES_MAX:,}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sqlite_path = Path(args.sqlite_path)
    workdir = sqlite_path.parent
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    camt: list[dict[str, Any]] = []
    for name in args.backends:
        if name == "sqlite":
            url = reset_sqlite(sqlite_path)
        else:
            url = reset_postgres(check_pg_url(args.pg_url))
        results.append(in_own_process(bench_backend, name, url, args.lines, workdir))
        if camt_row is not None and args.camt_entries:
            url = (
                reset_sqlite(sqlite_path)
                if name == "sqlite"
                else reset_postgres(check_pg_url(args.pg_url))
            )
            camt.append(in_own_process(camt_row, url, args.camt_entries, workdir))
    print_results(args.lines, results, camt)
    return 0


def print_results(n: int, results: list[Measured], camt: list[dict[str, Any]]) -> None:
    table = Table(title=f"paycore recon: {n:,} orders, 1% of each break type")
    columns = (
        "backend",
        "lines",
        "import s",
        "run s",
        "lines/s",
        "CPU s",
        "lines/CPU s",
        "server CPU s",
        "breaks",
        "peak RSS MB",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "backend" else "right")
    for r in results:
        server = r.server_cpu_s
        table.add_row(
            r.backend,
            f"{r.lines:,}",
            f"{r.import_.wall_s:.1f}",
            f"{r.run.wall_s:.1f}",
            f"{r.lines_per_s:,.0f}",
            f"{r.import_.cpu_s:.1f} + {r.run.cpu_s:.1f}",
            f"{r.lines / r.cpu_s:,.0f}",
            "-" if server is None else f"{r.import_.server_cpu_s:.1f} + {r.run.server_cpu_s:.1f}",
            f"{sum(r.breaks.values()):,}",
            f"{r.peak_rss_mb:,.0f}",
        )
    for row in camt:  # bench/camt.py's measure(): a camt.053 import alone
        table.add_row(
            f"{row['backend']} camt.053",
            f"{row['entries']:,}",
            f"{row['wall_s']:.1f}",
            "-",
            f"{row['entries'] / row['wall_s']:,.0f}",
            f"{row['cpu_s']:.1f}",
            f"{row['entries_per_cpu_s']:,.0f}",
            "-",
            "-",
            f"{row['peak_rss_mb']:,.0f}",
        )
    console.print(table)
    for r in results:
        phases = Table(title=f"{r.backend}: slowest SQL statements (import + run)")
        for column in ("statement", "wall s", "CPU s"):
            phases.add_column(column, justify="left" if column == "statement" else "right")
        for statement, wall, cpu in r.statements:
            phases.add_row(statement, f"{wall:.1f}", f"{cpu:.1f}")
        console.print(phases)


if __name__ == "__main__":
    sys.exit(main())
