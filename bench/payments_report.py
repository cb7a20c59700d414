"""The tables of bench/payments.py and the issue's goals they are held to."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.table import Table

from payin_load import NOT_SENT
from payments_measure import Row
from payments_setup import console

TARGET_ORDERS_S = 400.0
TARGET_CPU_MS = 3.0
TARGET_P99_MS = 100.0
TARGET_FAILOVER_S = 5.0
COLUMNS = (
    "scenario",
    "workers",
    "clients",
    "requests/s",
    "orders/s e2e",
    "final",
    "server CPU ms/pay-in",
    "p50 ms",
    "p99 ms",
    "errors",
    "result unknown",
    "failover s",
)


def cells(r: Row) -> list[str]:
    return [
        r.scenario,
        str(r.workers),
        r.clients,
        f"{r.requests_s:,.0f}",
        f"{r.orders_s:,.0f}" if r.orders_s is not None else "",
        f"{r.final:,}" if r.final else "",
        f"{r.server_cpu_ms:.2f}" if r.server_cpu_ms is not None else "",
        f"{r.p50_ms:.1f}",
        f"{r.p99_ms:.1f}",
        f"{r.errors:,}",
        r.unknown,
        f"{r.failover_s:.2f}" if r.failover_s is not None else "",
    ]


def print_table(rows: Sequence[Row], title: str) -> None:
    table = Table(title=title)
    for i, name in enumerate(COLUMNS):
        table.add_column(name, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*cells(r))
    console.print(table)


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| backend | " + " | ".join(COLUMNS) + " |"]
    lines.append("|---|---|" + "---:|" * (len(COLUMNS) - 1))
    lines += ["| " + r.backend + " | " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def verdict(rows: Sequence[Row]) -> str:
    """The issue's goals, as far as the scenarios run can tell."""
    checks = []
    closed = [r for r in rows if r.scenario.startswith("throughput")]
    if closed:
        best = max(closed, key=lambda r: r.orders_s or 0.0)
        fastest = min(r.server_cpu_ms or math.inf for r in closed)
        checks.append(
            (f"≥ {TARGET_ORDERS_S:,.0f} orders/s", (best.orders_s or 0.0) >= TARGET_ORDERS_S)
        )
        checks.append((f"server CPU ≤ {TARGET_CPU_MS:g} ms/pay-in", fastest <= TARGET_CPU_MS))
    offered = next((r for r in rows if r.scenario.startswith("open loop")), None)
    if offered is not None:
        sent_all = not any(NOT_SENT.split(":")[0] in n for n in offered.notes)
        good = offered.p99_ms < TARGET_P99_MS and sent_all and not offered.errors
        checks.append((f"create p99 < {TARGET_P99_MS:g} ms at {offered.clients}", good))
    fail = next((r for r in rows if r.scenario.startswith("failover")), None)
    if fail is not None:
        failed_over = fail.failover_s is not None and fail.failover_s < TARGET_FAILOVER_S
        checks.append((f"failover < {TARGET_FAILOVER_S:g} s", failed_over))
    if not checks:
        return "none of the scenarios run measures a goal"
    return ", ".join(f"{name} [{'green]met' if ok else 'red]missed'}[/]" for name, ok in checks)
