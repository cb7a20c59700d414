"""What bench/payments.py measures: orders by status, latencies, PostgreSQL's counters and
the CPU a final pay-in costs each process.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from common import psycopg_dsn
from paycore.payments.details import cipher_for
from paycore.payments.store_idempotency import stored_response
from paycore.tables import metadata
from payin_load import PayinClient
from payments_setup import Bank, Server, Site
from proc_cpu import MACHINE, Cpu, CpuMeter, PidFinder, descendants, postgres_backends

orders = metadata.tables["payment_orders"]
idempotency_keys = metadata.tables["idempotency_keys"]
RESOLVE_TIMEOUT_S = 30.0
"""How long after the load stops the orders may take to become final."""
WARMUP_REQUESTS = 20
FINAL = frozenset({"succeeded", "failed", "closed"})
WARMUP_RESOLVE_S = 5.0


async def one_payin(server: Server, site: Site, product: str) -> str:
    client = PayinClient(server.port, site.merchant_key, product)
    sample = await client.pay_in()
    client.close()
    return f"HTTP {sample.status} {sample.error or ''}"


def warm_up(server: Server, site: Site, engine: Engine) -> None:
    """A few pay-ins, and their callbacks done before anything is measured."""

    async def go() -> None:
        client = PayinClient(server.port, site.merchant_key, "warmup")
        for _ in range(WARMUP_REQUESTS):
            sample = await client.pay_in()
            if sample.status != 201:
                raise RuntimeError(f"warm-up pay-in answered {sample.status}: {sample.error}")
        client.close()

    asyncio.run(go())
    wait_resolved(engine, "warmup", timeout_s=WARMUP_RESOLVE_S)


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
        select(orders.c.status, idempotency_keys)
        .select_from(orders.join(idempotency_keys, idempotency_keys.c.object_id == orders.c.id))
        .where(orders.c.product == product)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        cipher = cipher_for(engine)  # registered by the bench with the server's keys
        unknown = [
            row.status
            for row in conn.execute(answers)
            if cipher is not None and _was_unknown(stored_response(cipher, dict(row._mapping)))
        ]
    firsts = [r[2].timestamp() for r in rows if r[2] is not None]
    lasts = [r[3].timestamp() for r in rows if r[3] is not None]
    return OrderStats(
        Counter({str(r[0]): int(r[1]) for r in rows}),
        min(firsts) if firsts else None,
        max(lasts) if lasts else None,
        len(unknown),
        sum(1 for status in unknown if status not in FINAL),
    )


def _was_unknown(answer: dict[str, Any] | None) -> bool:
    return answer is not None and bool(answer.get("result_unknown"))


def wait_resolved(engine: Engine, product: str, timeout_s: float = RESOLVE_TIMEOUT_S) -> OrderStats:
    deadline = time.monotonic() + timeout_s
    while True:
        stats = order_stats(engine, product)
        if stats.open == 0 or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


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
    final: int = 0  # pay-ins of the run that reached a final state
    server_cpu_ms: float | None = None  # server processes' CPU / final pay-ins
    notes: list[str] = field(default_factory=list)


def cpu_cell(row: Row) -> str:
    return f"{row.server_cpu_ms:.2f}" if row.server_cpu_ms is not None else "?"


SERVER = "paycore serve"


def start_meter(site: Site, server: Server, banks: Sequence[Bank]) -> CpuMeter:
    """CPU of the server (the uvicorn process and its workers), each bank, and PostgreSQL's
    backends of the benchmark's database."""
    groups: dict[str, PidFinder] = {SERVER: partial(descendants, server.proc.pid)}
    for bank in banks:
        groups[bank.name] = partial(descendants, bank.proc.pid)
    if site.backend == "postgres":
        groups["postgres"] = postgres_backends(make_url(site.url).database or "")
    return CpuMeter(groups)


def record_costs(
    row: Row,
    stats: OrderStats,
    spent: dict[str, Cpu],
    pg_before: Counter[str] | None,
    pg_after: Counter[str] | None,
) -> None:
    """Orders/s end to end, and what a final pay-in cost: CPU per process group (from /proc,
    so it holds on a shared machine) and PostgreSQL's transactions and rows."""
    final = sum(n for status, n in stats.by_status.items() if status in FINAL)
    row.final = final
    if stats.first_created_at and stats.last_finished_at:
        window = stats.last_finished_at - stats.first_created_at
        row.orders_s = stats.by_status["succeeded"] / window if window > 0 else 0.0
    row.errors += stats.not_succeeded
    row.unknown = stats.unknown_cell
    row.notes.append(f"orders {dict(stats.by_status)}")
    if not final:
        return
    server = spent.get(SERVER)
    if server is not None:
        row.server_cpu_ms = server.total_s * 1000 / final
    measured = Cpu()
    parts = []
    for name, cpu in spent.items():
        if name == MACHINE:
            continue
        measured += cpu
        ms, kernel = cpu.total_s * 1000 / final, cpu.system_s * 1000 / final
        parts.append(f"{name} {ms:.2f} (kernel {kernel:.2f})")
    machine = spent[MACHINE].total_s * 1000 / final
    rest = machine - measured.total_s * 1000 / final
    parts.append(f"whole machine {machine:.1f}, of which load generator and other jobs {rest:.1f}")
    row.notes.append(f"CPU ms per final pay-in: {', '.join(parts)}")
    if pg_before is not None and pg_after is not None:
        delta = pg_after - pg_before
        shares = ", ".join(f"{k.split('_')[1]} {delta[k] / final:.1f}" for k in PG_COUNTERS)
        row.notes.append(f"PostgreSQL per final pay-in: {shares}")
