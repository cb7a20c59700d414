"""Finance benchmark: one business day of a big journal, derived, pushed and reconciled.

For each backend it recreates a scratch database, migrates it and writes one bill day
(2025-12-01, China time) of a merchant's pay-ins, fees, refunds, payouts and splits through
the ledger's own posting rules and writer (bench/bills_data.py's merchant, every pay-in of
its year on one day), then measures:

  derive      `Finance.derive_day` of that day: the seq range summed in SQL
  replay      the same day derived again and compared (nothing written)
  push        the day's vouchers and --vouchers more to the sandbox finance receiver, a
              real process over HTTP (`python -m paycore.sandbox_finance`)
  reconcile   the day against the ledger's entries and the receiver's booked list

Each row gives the wall time, this process's CPU per entry (or voucher), the server's on
PostgreSQL and the receiver's (from /proc), and the peak of Python's allocations
(tracemalloc, on a second run of the step so that the timed run is not slowed by it).
On a shared 2-CPU machine wall times are noise; CPU per entry is not.

    .venv/bin/python bench/finance.py                    # SQLite 200,000, PostgreSQL 1,000,000
    .venv/bin/python bench/finance.py --quick            # 20,000 entries each
    .venv/bin/python bench/finance.py --backends postgres --entries 1000000

PostgreSQL must be reachable at --pg-url (a database named *bench* on 127.0.0.1, which is
dropped and recreated). The table goes to var/bench/finance.md as markdown too.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import platform
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, insert

import bills_data as data
from bills_writer import Writer
from common import check_pg_url, free_port, reset_postgres, reset_sqlite
from paycore.bills.model import day_period
from paycore.clock import ManualClock, SystemClock
from paycore.finance.model import Voucher, VoucherLine
from paycore.finance.push import FinancePush
from paycore.finance.receiver_client import FinanceReceiverClient
from paycore.finance.service import DERIVE_GRACE_S, Finance
from paycore.finance.store import PUSH_PENDING, voucher_lines, vouchers
from paycore.ledger import store_writer
from paycore.ledger.service import Ledger
from paycore.merchants.service import Merchants
from paycore.platform.db import make_engine, upgrade
from paycore.sandbox_finance import launcher
from paycore.sandbox_finance.keys import read_secret
from paycore.security.crypto import FieldCipher
from proc_cpu import CpuMeter, PidFinder, descendants, postgres_backends

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paycore_bench_finance"
DEFAULT_SQLITE_PATH = "./var/bench/finance.db"
DEFAULT_ENTRIES = {"sqlite": 200_000, "postgres": 1_000_000}
QUICK_ENTRIES = 20_000
PUSH_VOUCHERS = 2_000
DAY = data.FIRST_DAY
REPORT = Path("var/bench/finance.md")
ENTRIES_PER_PAYIN_IN_A_DAY = data.ENTRIES_PER_PAYIN * 0.97
"""A refund or payout finishing after midnight is left out of the one day (about 3%)."""

console = Console(width=None if sys.stdout.isatty() else 150)


@dataclass
class Row:
    backend: str
    step: str
    count: str
    wall_s: float
    cpu_us: str
    """This process's CPU per entry or voucher, and the other processes' after a +."""
    peak_mib: str
    outcome: str


def with_parallel_workers(backends: PidFinder) -> PidFinder:
    """The database's backends and the parallel workers they lead (a big aggregate runs in
    several processes; their command line names the leader's pid, not the database)."""

    def find() -> list[int]:
        leaders = backends()
        marks = tuple(f"parallel worker for PID {pid}".encode() for pid in leaders)
        workers = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    cmdline = (entry / "cmdline").read_bytes()
                    if cmdline.startswith(b"postgres:") and any(m in cmdline for m in marks):
                        workers.append(int(entry.name))
        return leaders + workers

    return find


def generate(engine: Engine, clock: ManualClock, entries: int) -> tuple[int, float]:
    """About `entries` journal entries, all on DAY; returns (entries, seconds)."""
    started = time.perf_counter()
    cipher = FieldCipher({"bench": b"\x02" * 32}, "bench")
    Merchants(engine, cipher, clock).create(
        name="Bench finance shop", fee_bps=data.FEE_BPS, merchant_id=data.MERCHANT
    )
    Ledger(engine, clock=clock).create_accounts(data.accounts())
    with engine.begin() as conn:
        states = store_writer.lock_accounts(conn, [a.id or "" for a in data.accounts()])
    writer = Writer(engine, states)
    payins = math.ceil(entries / ENTRIES_PER_PAYIN_IN_A_DAY)
    with console.status(f"writing {entries:,} entries of {DAY}"):
        data.Year(writer, seed=7).run([payins], lambda _days: None)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        analyze = "VACUUM ANALYZE" if writer.postgres else "ANALYZE"
        conn.exec_driver_sql(analyze)
    return writer.out.entries, time.perf_counter() - started


def measured(
    step: Callable[[], Any], others: dict[str, PidFinder], *, again: bool
) -> tuple[Any, float, float, dict[str, float], float | None]:
    """(result, wall s, CPU s here, CPU s of the other processes, peak MiB or None): the
    peak from a second run under tracemalloc when `again`."""
    meter = CpuMeter(others)
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    spent = {name: c.total_s for name, c in meter.spent().items() if name in others}
    peak = None
    if again:
        tracemalloc.start()
        step()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result, wall, cpu, spent, peak


def per(cpu_s: float, others: dict[str, float], count: int) -> str:
    text = f"{cpu_s / count * 1e6:.2f}"
    return text + "".join(f" + {name} {s / count * 1e6:.2f}" for name, s in others.items())


def synthetic(count: int) -> list[Voucher]:
    """Balanced two-line vouchers on days after DAY, unique by index."""
    return [
        Voucher(
            id=f"vch_bench_{i:06d}",
            business_date=DAY + timedelta(days=1 + i // 500),
            voucher_type="other",
            currency="CNY",
            summary=f"bench voucher {i}",
            lines=(
                VoucherLine(1, "112201", 1101, 100 + i, 0),
                VoucherLine(2, "224101", 2001, 0, 100 + i),
            ),
            transfer_count=1,
        )
        for i in range(count)
    ]


def insert_pending(engine: Engine, found: list[Voucher], now: datetime) -> None:
    """Vouchers as derivation leaves them: pending, due now."""
    rows = [
        {"id": v.id, "business_date": v.business_date, "currency": v.currency,
         "voucher_type": v.voucher_type, "summary": v.summary,
         "debit_total_minor": v.debit_total_minor, "credit_total_minor": v.credit_total_minor,
         "transfer_count": v.transfer_count, "body_hash": v.body_hash, "created_at": now,
         "push_status": PUSH_PENDING, "push_attempts": 0, "next_push_at": now, "lease_id": None,
         "leased_until": None, "pushed_at": None, "receiver_ref": None, "last_error": ""}
        for v in found
    ]  # fmt: skip
    lines = [
        {"voucher_id": v.id, "line_no": x.line_no, "gl_account": x.gl_account,
         "ledger_code": x.ledger_code, "debit_minor": x.debit_minor, "credit_minor": x.credit_minor}
        for v in found for x in v.lines
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(vouchers), rows)
        conn.execute(insert(voucher_lines), lines)


def bench_backend(name: str, url: str, entries: int, args: argparse.Namespace) -> list[Row]:
    upgrade(url)
    engine = make_engine(url)
    clock = ManualClock(start=datetime(2025, 11, 30, 12, tzinfo=UTC))
    server: dict[str, PidFinder] = {}
    if name == "postgres":
        server["server"] = with_parallel_workers(postgres_backends(engine.url.database or ""))
    rows: list[Row] = []
    try:
        written, seconds = generate(engine, clock, entries)
        rows.append(Row(name, "generate", f"{written:,} entries", seconds, "", "", ""))
        clock.advance((day_period(DAY).end - clock.now()).total_seconds() + DERIVE_GRACE_S + 1)
        rows += derive_push_reconcile(name, engine, clock, written, server, args)
    finally:
        engine.dispose()
    return rows


def derive_push_reconcile(
    name: str, engine: Engine, clock: ManualClock, written: int,
    server: dict[str, PidFinder], args: argparse.Namespace,
) -> list[Row]:  # fmt: skip
    rows: list[Row] = []
    finance = Finance(engine, clock)
    derived, wall, cpu, others, _ = measured(lambda: finance.derive_day(DAY), server, again=False)
    vouchers_made = f"{len(derived.voucher_ids)} vouchers"
    rows.append(Row(name, "derive", f"{written:,} entries", wall, per(cpu, others, written),
                    "", vouchers_made))  # fmt: skip
    replay, wall, cpu, others, peak = measured(lambda: finance.derive_day(DAY), server, again=True)
    rows.append(Row(name, "replay", f"{written:,} entries", wall, per(cpu, others, written),
                    f"{peak:.2f}", f"{replay.written} written"))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-finance-") as scratch:
        port = free_port()
        process = launcher.start_receiver(Path(scratch), port=port)
        try:
            client = FinanceReceiverClient(
                f"http://127.0.0.1:{port}", secret=read_secret(Path(scratch))
            )
            insert_pending(engine, synthetic(args.vouchers), SystemClock().now())
            relay = FinancePush(engine, client, clock=SystemClock())
            receiver = {**server, "receiver": lambda: descendants(process.pid)}
            report, wall, cpu, others, _ = measured(relay.push_all, receiver, again=False)
            pushed = report.acked + report.duplicates
            rate = f"{pushed / wall:,.0f} vouchers/s, {len(report.errors)} errors"
            rows.append(Row(name, "push", f"{pushed:,} vouchers", wall, per(cpu, others, pushed),
                            "", rate))  # fmt: skip
            finance.booked = client.booked
            recon, wall, cpu, others, peak = measured(
                lambda: finance.reconcile_day(DAY), receiver, again=True
            )
            rows.append(Row(name, "reconcile", f"{written:,} entries", wall,
                            per(cpu, others, written), f"{peak:.2f}",
                            f"{recon.status}, {len(recon.breaks)} breaks"))  # fmt: skip
            client.close()
        finally:
            launcher.stop_receiver(process)
    return rows


def render(rows: list[Row], machine: str) -> Table:
    table = Table(title=f"finance: one business day ({machine})")
    for column in ("backend", "step", "size", "wall s", "CPU µs/item", "peak Python MiB",
                   "outcome"):  # fmt: skip
        table.add_column(column, justify="right" if "s" in column.split()[-1] else "left")
    for r in rows:
        table.add_row(r.backend, r.step, r.count, f"{r.wall_s:.2f}", r.cpu_us, r.peak_mib,
                      r.outcome)  # fmt: skip
    return table


def markdown(rows: list[Row], machine: str) -> str:
    lines = [f"finance benchmark, {machine}", "",
             "| backend | step | size | wall s | CPU µs/item | peak Python MiB | outcome |",
             "|---|---|---:|---:|---|---:|---|"]  # fmt: skip
    lines += [
        f"| {r.backend} | {r.step} | {r.count} | {r.wall_s:.2f} | {r.cpu_us} | {r.peak_mib} "
        f"| {r.outcome} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--entries", type=int, default=0, help="per backend (default: theirs)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ENTRIES:,} entries each")
    parser.add_argument("--vouchers", type=int, default=PUSH_VOUCHERS, help="pushed besides")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="dropped and recreated")
    parser.add_argument("--sqlite-path", default=DEFAULT_SQLITE_PATH, help="recreated")
    parser.add_argument("--report", default=str(REPORT))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = f"{platform.machine()}, Python {platform.python_version()}, {date.today()}"
    rows: list[Row] = []
    for name in args.backends.split(","):
        entries = args.entries or (QUICK_ENTRIES if args.quick else DEFAULT_ENTRIES[name])
        if name == "postgres":
            url = reset_postgres(check_pg_url(args.pg_url))
        else:
            url = reset_sqlite(Path(args.sqlite_path))
        rows += bench_backend(name, url, entries, args)
        console.print(render(rows, machine))
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(markdown(rows, machine))
    ok = all(r.outcome.startswith("ok") for r in rows if r.step == "reconcile")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
