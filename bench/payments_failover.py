"""The failover scenario of bench/payments.py: open-loop load, then bank-a hangs; how long
until every pay-in goes to bank-b, and do the stalled ones resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine

from payin_load import Connection, PayinClient, Sample, open_loop
from payments_measure import Row, percentile_ms, wait_resolved, warm_up
from payments_setup import Bank, Server, Site, console, serving

HANG = {"hang": True, "hang_min_s": 5.0, "hang_max_s": 10.0}
FAILOVER_STEADY_S = 3.0
FAILOVER_OBSERVE_S = 7.0
CHANNELS_POLL_S = 0.1


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
        warm_up(server, site, engine)
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
