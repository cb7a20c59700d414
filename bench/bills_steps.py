"""What bench/bills.py measures on the generated year, one function per table section.

Each step returns rows of the table; a piece that is missing or fails raises, and the
benchmark records the error beside the other steps' figures.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import text

import bills_data as data
from paycore.bills.model import month_period
from paycore.runtime import Runtime
from proc_cpu import CpuMeter, PidFinder

STATEMENT_GOAL_MS = 200.0
PAGE_GOAL_MS = 500.0
EXPORT_GOAL_LINES_S = 50_000.0
EXPORT_FIRST_LINES = 100_000
STORM_GOAL = 1.2
FLAT_MEMORY_SLACK = 1.5
"""Memory is flat if the peak RSS growth after all lines is within 1.5x its growth after
the first 100,000 lines (plus 16 MB for allocator noise)."""


@dataclass
class Context:
    backend: str
    rt: Runtime
    url: str
    server: PidFinder | None
    console: Console
    args: argparse.Namespace


@dataclass
class Row:
    """One line of the table."""

    measure: str
    value: str
    cpu: str = ""
    floor: str = ""
    goal: str = ""
    verdict: str = ""


_row = Row


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1] if ordered else 0.0


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"


class Series:
    """Wall and process-CPU seconds of each call, and the server's CPU over all of them."""

    def __init__(self, ctx: Context) -> None:
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self._meter = CpuMeter({"server": ctx.server}) if ctx.server else None
        self.server_s: float | None = None

    def call(self, action: Callable[[], object]) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        self.walls.append(time.perf_counter() - wall)
        self.cpus.append(time.process_time() - cpu)
        return result

    def done(self) -> Series:
        if self._meter is not None:
            self.server_s = self._meter.spent()["server"].total_s
        return self

    def ms(self, p: float) -> float:
        return percentile(self.walls, p) * 1000

    def cpu_text(self, per: str, scale: float = 1000, unit: str = "ms") -> str:
        n = len(self.cpus)
        own = f"{sum(self.cpus) / n * scale:.1f} {unit}/{per}"
        if self.server_s is not None:
            own += f" + server {self.server_s / n * scale:.1f}"
        return own


def months(count: int) -> list[str]:
    return [data.MONTHS[i % len(data.MONTHS)] for i in range(count)]


# -- the ledger's own check ---------------------------------------------------------------


def ledger_check(ctx: Context) -> list[Row]:
    """`paycore ledger check` on the generated journal, the command itself."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [str(Path(sys.executable).parent / "paycore"), "ledger", "check"]
    env = dict(os.environ, PAYCORE_DATABASE_URL=ctx.url)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ok = done.returncode == 0
    if not ok:
        ctx.console.print(f"[red]paycore ledger check failed:[/red]\n{done.stdout}\n{done.stderr}")
        raise RuntimeError(f"paycore ledger check exited {done.returncode}")
    return [_row("paycore ledger check", f"passes, {wall:.1f} s", f"{cpu:.1f} s (command)",
                 goal="passes", verdict="met")]  # fmt: skip


# -- day rollups ------------------------------------------------------------------------------


def close_days(ctx: Context) -> list[Row]:
    series = Series(ctx)
    closed = series.call(ctx.rt.bills.close_days)
    series.done()
    days = len(closed) if isinstance(closed, Sequence) else 0
    with ctx.rt.engine.connect() as conn:
        entries = conn.exec_driver_sql("SELECT count(*) FROM ledger_entries").scalar_one()
    wall = series.walls[0]
    cpu = f"{series.cpus[0] / entries * 1e6:.1f} µs/entry"
    if series.server_s is not None:
        cpu += f" + server {series.server_s / entries * 1e6:.1f}"
    return [_row("close_days (day rollups, the whole year)",
                 f"{days} days, {entries:,} entries in {wall:.1f} s "
                 f"= {entries / wall:,.0f} entries/s",
                 cpu)]  # fmt: skip


# -- statements ---------------------------------------------------------------------------------


def _merchant_account_ids(ctx: Context) -> list[str]:
    with ctx.rt.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id FROM ledger_accounts WHERE owner_id = :m OR owner_id LIKE :p"),
            {"m": data.MERCHANT, "p": f"{data.MERCHANT}:%"},
        )
        return [r[0] for r in rows]


def _rollup_floor(ctx: Context, labels: Sequence[str]) -> Series:
    """The least a statement reads: the month's rollup rows summed by line, and the
    balances at its bounds, in plain SQL on the same pool."""
    ids = _merchant_account_ids(ctx)
    marks = ", ".join(f":a{i}" for i in range(len(ids)))
    params: dict[str, Any] = {f"a{i}": a for i, a in enumerate(ids)}
    lines = text(
        "SELECT account_id, category, product, channel, sum(amount_in), sum(amount_out), "
        f"sum(count) FROM bills_account_days WHERE account_id IN ({marks}) "
        "AND day >= :first AND day <= :last GROUP BY account_id, category, product, channel"
    )
    bounds = text(
        "SELECT b.* FROM bills_day_balances b JOIN (SELECT account_id, max(day) AS day "
        f"FROM bills_day_balances WHERE account_id IN ({marks}) AND day <= :last "
        "GROUP BY account_id) m ON m.account_id = b.account_id AND m.day = b.day"
    )
    series = Series(ctx)
    for month in labels:
        days = month_period(month).days
        p = {**params, "first": days[0], "last": days[-1]}

        def read(p: dict[str, Any] = p) -> None:
            with ctx.rt.bills.read_engine.connect() as conn:
                conn.execute(lines, p).fetchall()
                conn.execute(bounds, p).fetchall()

        series.call(read)
    return series.done()


def _raw_scan_ms(ctx: Context, month: str) -> float:
    """For reference: summing the month straight from the journal, without rollups."""
    ids = _merchant_account_ids(ctx)
    period = month_period(month)
    marks = ", ".join(f":a{i}" for i in range(len(ids)))
    query = text(
        f"SELECT count(*), sum(amount) FROM ledger_entries WHERE account_id IN ({marks}) "
        "AND created_at >= :s AND created_at < :e"
    )
    params: dict[str, Any] = {f"a{i}": a for i, a in enumerate(ids)}
    if ctx.backend == "sqlite":
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        params.update(s=period.start.strftime(fmt), e=period.end.strftime(fmt))
    else:
        params.update(s=period.start, e=period.end)
    started = time.perf_counter()
    with ctx.rt.engine.connect() as conn:
        conn.execute(query, params).fetchall()
    return (time.perf_counter() - started) * 1000


def statement(ctx: Context) -> list[Row]:
    bills = ctx.rt.bills
    bills.statement(data.MERCHANT, data.MONTHS[-1])  # warm-up, not counted
    asked = months(ctx.args.statements)
    series = Series(ctx)
    for month in asked:
        series.call(lambda month=month: bills.statement(data.MERCHANT, month))
    series.done()
    stores = Series(ctx)
    for month in asked[:12]:
        stores.call(lambda month=month: bills.statement(data.MERCHANT, month, "store_1"))
    stores.done()
    floor = _rollup_floor(ctx, asked)
    raw = _raw_scan_ms(ctx, data.MONTHS[-1])
    p99 = series.ms(99)
    return [
        _row(f"monthly statement, {len(asked)} calls over 12 months",
             f"p50 {series.ms(50):.1f} ms, p99 {p99:.1f} ms", series.cpu_text("statement"),
             f"rollup SQL p50 {floor.ms(50):.1f} ms, p99 {floor.ms(99):.1f} ms "
             f"({p99 / max(floor.ms(99), 1e-6):.1f}x); raw journal scan of a month {raw:.0f} ms",
             "p99 < 200 ms", verdict(p99 < STATEMENT_GOAL_MS)),
        _row("a store owner's statement (12 calls)",
             f"p50 {stores.ms(50):.1f} ms, p99 {stores.ms(99):.1f} ms",
             stores.cpu_text("statement"),
             goal="p99 < 200 ms", verdict=verdict(stores.ms(99) < STATEMENT_GOAL_MS)),
    ]  # fmt: skip


# -- the proof -------------------------------------------------------------------------------------


def check(ctx: Context) -> list[Row]:
    series = Series(ctx)
    result = series.call(lambda: ctx.rt.bills.check(data.MONTHS[-1]))
    series.done()
    ok = getattr(result, "ok", result)
    if ok is False:
        raise RuntimeError(f"Bills.check({data.MONTHS[-1]}) found a mismatch: {result!r}"[:300])
    return [_row(f"Bills.check({data.MONTHS[-1]}) (the proof)", f"{series.walls[0]:.2f} s",
                 series.cpu_text("check", 1, "s"), goal="passes", verdict="met")]  # fmt: skip


def flat(growth_first: float, growth_all: float) -> bool:
    return growth_all <= growth_first * FLAT_MEMORY_SLACK + 16


def rss_mb() -> tuple[float, float]:
    """(current, peak since the last reset) resident memory of this process, MB."""
    status = Path("/proc/self/status").read_text()
    now = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return now / 1024, peak / 1024


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


# -- exports ---------------------------------------------------------------------------------------


def export(ctx: Context) -> list[Row]:
    """The merchant's orders of the year as CSV (the export job's own writer), at most
    --export-lines lines, to a file; peak RSS growth after 100,000 lines and after all."""
    import itertools

    from paycore.bills.exports import write_csv
    from paycore.bills.queries import COLUMNS, BillQueries, What, filters_of

    want = ctx.args.export_lines
    filters = filters_of({"from": "2025-12-01", "to": "2026-11-30"})
    queries = BillQueries(ctx.rt.bills)
    rows = itertools.islice(queries.rows(What.ORDERS, data.MERCHANT, filters), want)
    path = Path(ctx.args.report).parent / f"bills-export-{ctx.backend}.csv"
    base, _ = rss_mb()
    reset_peak_rss()
    at_first: list[float] = []

    def progress(done: int) -> None:
        if done == EXPORT_FIRST_LINES and not at_first:
            at_first.append(rss_mb()[1] - base)

    series = Series(ctx)
    with path.open("wb") as out:
        lines = series.call(lambda: write_csv(rows, COLUMNS[What.ORDERS], out, progress=progress))
    series.done()
    growth_all = rss_mb()[1] - base
    size_mb = path.stat().st_size / 1e6
    path.unlink()
    assert isinstance(lines, int)
    rate = lines / series.walls[0]
    floor = _csv_floor(ctx, lines, path)
    memory = f"peak RSS +{at_first[0]:.0f} MB at 100k lines" if at_first else "(< 100k lines)"
    memory += f", +{growth_all:.0f} MB at {lines:,}"
    is_flat = flat(at_first[0], growth_all) if at_first else True
    ok = rate >= EXPORT_GOAL_LINES_S and is_flat and lines >= want
    short = "" if lines >= want else f" (the year has only {lines:,} orders)"
    return [_row(f"CSV export of the year's orders, {lines:,} lines{short}",
                 f"{rate:,.0f} lines/s ({size_mb:.0f} MB in {series.walls[0]:.1f} s); {memory}",
                 _per_line(series, lines),
                 f"plain SELECT + csv.writer: {floor:,.0f} lines/s ({rate / floor:.2f}x)",
                 ">= 50,000 lines/s, flat memory",
                 verdict(ok))]  # fmt: skip


def _per_line(series: Series, lines: int) -> str:
    own = f"{series.cpus[0] / lines * 1e6:.1f} µs/line"
    if series.server_s is not None:
        own += f" + server {series.server_s / lines * 1e6:.1f}"
    return own


def _csv_floor(ctx: Context, lines: int, path: Path) -> float:
    """The least an export does: one plain SELECT of the same orders, written by csv.writer."""
    import csv

    columns = (
        "id, kind, created_at, merchant_reference, product, channel, status, currency, amount, "
        "fee_amount, refunded_amount, party_masked, parent_id, finished_at, details_enc"
    )
    query = text(
        f"SELECT {columns} FROM payment_orders WHERE merchant_id = :m "
        "ORDER BY created_at, id LIMIT :n"
    )
    started = time.perf_counter()
    with ctx.rt.bills.read_engine.connect() as conn, path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(
            query, {"m": data.MERCHANT, "n": lines}
        )
        for row in result:
            writer.writerow(row)
    path.unlink()
    return lines / (time.perf_counter() - started)
