"""What SliMiddleware costs a request: the same app with and without it, in one process.

Two apps over one Runtime on a temporary SQLite file: the app `create_app` builds, and a
copy with SliMiddleware taken out of `user_middleware` before its stack is built. A raw
ASGI loop (no client library, no sockets) sends N requests of each kind, GET /healthz and
POST /v1/transfers (one transfer, platform key, through the fast lane), in blocks that
alternate between the two apps, so both see the same machine load. CPU is
`time.process_time` around each call (the whole process: the ledger's committer thread
included). The machine is shared, so read the CPU per request and the ratio of this run,
not the rates alone; the spread of the per-round ratios says how much is noise.

Both apps carry a probe either side of SliMiddleware's place (bench/sli_asgi.py): the
median wall time between them is the middleware's own time in place. Then micro-benchmarks
(bench/sli_micro.py): SliRecorder.record, route_family(path), record_request, and the
middleware around a no-op app, in tight loops (warm caches, so lower than in place).

    .venv/bin/python bench/sli.py                                # about a minute
    .venv/bin/python bench/sli.py --transfers 2000 --healthz 6000 --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from rich.console import Console
from rich.table import Table
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from paycore.channels.config import Channels
from paycore.channels.registry import ChannelRegistry
from paycore.channels.routing import Router
from paycore.ledger.model import AccountFlags, AccountOrigin
from paycore.ledger.service import AccountRequest
from paycore.ops.sli import SliMiddleware
from paycore.platform.config import Settings
from paycore.platform.db import upgrade
from paycore.runtime import Runtime
from paycore.security.crypto import FieldCipher
from paycore.web.app import create_app
from sli_asgi import Answer, Call, Probe, send_one
from sli_micro import MICRO_CALLS, MICRO_REPEATS, micro

ACCOUNTS = 1_000
CURRENCY = "CNY"
WITH, WITHOUT = "with", "without"
TRANSFERS = "/v1/transfers"
OVERHEAD_GOAL = 0.03
"""The middleware should cost at most 3% of a transfer's CPU."""
MEMORY_DIR = Path("/dev/shm")

console = Console(width=None if sys.stdout.isatty() else 200)


# -- the two apps and the runs -----------------------------------------------------------------


@dataclass
class Probed:
    app: FastAPI
    outer_ns: list[int] = field(default_factory=list)
    inner_ns: list[int] = field(default_factory=list)

    def own_us(self) -> float:
        """The median of outer minus inner, in µs: what lies between the two probes."""
        between = sorted(o - i for o, i in zip(self.outer_ns, self.inner_ns, strict=True))
        return between[len(between) // 2] / 1000 if between else 0.0


def probed_app(runtime: Runtime, *, sli: bool) -> Probed:
    """The app create_app builds, SliMiddleware kept or taken out before the stack is built,
    with a probe either side of its place."""
    app = create_app(runtime=runtime)
    probed = Probed(app)
    sli_cls: object = SliMiddleware  # Middleware.cls is typed as a factory
    rest = [m for m in app.user_middleware if m.cls is not sli_cls]
    app.user_middleware = [
        Middleware(Probe, probed.outer_ns),
        *([Middleware(SliMiddleware)] if sli else []),
        Middleware(Probe, probed.inner_ns),
        *rest,
    ]
    return probed


@dataclass
class Series:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    block_cpu_s: list[float] = field(default_factory=list)

    def cpu_us(self) -> float:
        return sum(self.cpus) / len(self.cpus) * 1e6

    def wall_ms(self, p: float) -> float:
        ordered = sorted(self.walls)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000

    def rate(self) -> float:
        return len(self.walls) / sum(self.walls)


@dataclass
class Kind:
    name: str
    make: Callable[[int], Call]
    check: Callable[[Answer], str | None]
    """None when the answer is the one expected, else what is wrong."""
    requests: int
    series: dict[str, Series] = field(default_factory=lambda: {WITH: Series(), WITHOUT: Series()})
    own_us: dict[str, float] = field(default_factory=dict)
    """Per app: the median wall µs between the probes around SliMiddleware's place."""


async def run_block(app: ASGIApp, kind: Kind, start: int, size: int, into: Series | None) -> int:
    """`size` requests; wrong answers are counted, not timed in."""
    wrong = 0
    block_cpu = 0.0
    for n in range(start, start + size):
        answer = await send_one(app, kind.make(n))
        if (problem := kind.check(answer)) is not None:
            wrong += 1
            console.print(f"[red]{kind.name} #{n}: {problem}[/red]")
            continue
        block_cpu += answer.cpu_s
        if into is not None:
            into.walls.append(answer.wall_s)
            into.cpus.append(answer.cpu_s)
    if into is not None:
        into.block_cpu_s.append(block_cpu / size)
    return wrong


async def run_kind(apps: dict[str, ASGIApp], kind: Kind, block: int) -> int:
    """A warm-up block on each app, then rounds of one block each, the order swapped every
    round so neither app always runs right after the other."""
    wrong = 0
    next_n = 0
    for variant in (WITH, WITHOUT):
        wrong += await run_block(apps[variant], kind, next_n, block, None)
        next_n += block
    rounds = max(1, kind.requests // block)
    for r in range(rounds):
        for variant in (WITH, WITHOUT) if r % 2 == 0 else (WITHOUT, WITH):
            wrong += await run_block(apps[variant], kind, next_n, block, kind.series[variant])
            next_n += block
    return wrong


async def run_all(apps: dict[str, Probed], kinds: Sequence[Kind], block: int) -> int:
    async with contextlib.AsyncExitStack() as stack:
        for p in apps.values():  # the lifespan sets app.state (sli among it)
            await stack.enter_async_context(p.app.router.lifespan_context(p.app))
        asgi: dict[str, ASGIApp] = {variant: p.app for variant, p in apps.items()}
        wrong = 0
        for kind in kinds:
            with console.status(f"{kind.name}: {kind.requests:,} requests per app"):
                wrong += await run_kind(asgi, kind, block)
            for variant, p in apps.items():
                kind.own_us[variant] = p.own_us()
                p.outer_ns.clear()
                p.inner_ns.clear()
        return wrong


def healthz_kind(requests: int) -> Kind:
    call = Call("GET", "/healthz", [])

    def check(answer: Answer) -> str | None:
        return None if answer.status == 200 else f"status {answer.status}"

    return Kind("GET /healthz", lambda _n: call, check, requests)


def transfer_kind(requests: int, api_key: str) -> Kind:
    authorization = f"Bearer {api_key}".encode()
    headers = [(b"content-type", b"application/json"), (b"authorization", authorization)]
    stamp = time.time_ns()

    def make(n: int) -> Call:
        body = {
            "transfers": [
                {"id": f"sli-{stamp}-{n}", "debit_account_id": account_id(n % ACCOUNTS),
                 "credit_account_id": account_id((n * 7 + 1) % ACCOUNTS), "amount": 1 + n % 997,
                 "currency": CURRENCY}
            ]
        }  # fmt: skip
        return Call("POST", TRANSFERS, headers, json.dumps(body).encode())

    def check(answer: Answer) -> str | None:
        if answer.status != 200:
            return f"status {answer.status}: {answer.body[:200]!r}"
        result = json.loads(answer.body)["results"][0]["result"]
        return None if result == "created" else f"result {result}"

    return Kind(f"POST {TRANSFERS}", make, check, requests)


def account_id(i: int) -> str:
    return f"acct-sli-{i:05d}"


# -- setup and report --------------------------------------------------------------------------


def build_runtime(work: Path) -> Runtime:
    url = f"sqlite:///{work / 'sli.db'}"
    upgrade(url)
    registry = ChannelRegistry()
    runtime = Runtime.build(
        Settings(database_url=url, expiry_interval_s=1.0, data_dir=str(work)),
        channels=Channels(registry, Router(registry, [])),
        cipher=FieldCipher({"bench": os.urandom(32)}, "bench"),
    )
    api = AccountOrigin.API  # the ledger's HTTP routes move only API accounts' money
    runtime.ledger.create_accounts(
        [
            AccountRequest(currency=CURRENCY, id=account_id(i), flags=AccountFlags.NONE, origin=api)
            for i in range(ACCOUNTS)
        ]
    )
    return runtime


def end_to_end_rows(kinds: Sequence[Kind]) -> list[list[str]]:
    rows = []
    for kind in kinds:
        with_, without = kind.series[WITH], kind.series[WITHOUT]
        ratio = with_.cpu_us() / without.cpu_us()
        paired = sorted(w / o for w, o in zip(with_.block_cpu_s, without.block_cpu_s, strict=True))
        spread = (
            f"{statistics.median(paired):.3f} "
            f"[{paired[len(paired) // 10]:.3f}-{paired[len(paired) * 9 // 10]:.3f}]"
        )
        for variant, s in ((WITH, with_), (WITHOUT, without)):
            first = variant == WITH
            rows.append([
                kind.name, variant, f"{len(s.walls):,}", f"{s.rate():,.0f}", f"{s.cpu_us():,.1f}",
                f"{s.wall_ms(50):.3f}", f"{s.wall_ms(99):.3f}", f"{kind.own_us[variant]:.2f}",
                f"{ratio:.3f}" if first else "", spread if first else "",
                f"{with_.cpu_us() - without.cpu_us():+.1f}" if first else "",
            ])  # fmt: skip
    return rows


E2E_HEADERS = ["request", "SliMiddleware", "requests", "req/s", "CPU µs/req", "wall p50 ms",
               "wall p99 ms", "in place µs (p50)", "CPU ratio with/without",
               "per-round ratios median [p10-p90]", "CPU µs added"]  # fmt: skip
MICRO_HEADERS = ["operation", f"CPU ns/call (median of {MICRO_REPEATS})", "best"]
LEFT = {"request", "SliMiddleware", "operation"}


def print_tables(e2e: list[list[str]], micro_rows: list[tuple[str, float, float]]) -> None:
    table = Table(title="SliMiddleware, in process (raw ASGI), alternating blocks")
    for header in E2E_HEADERS:
        table.add_column(header, justify="left" if header in LEFT else "right")
    for row in e2e:
        table.add_row(*row)
    console.print(table)
    table = Table(title=f"Micro-benchmarks ({MICRO_CALLS:,} calls per run)")
    for header in MICRO_HEADERS:
        table.add_column(header, justify="left" if header in LEFT else "right")
    for name, median, best in micro_rows:
        table.add_row(name, f"{median:,.0f}", f"{best:,.0f}")
    console.print(table)


def markdown(e2e: list[list[str]], micro_rows: list[tuple[str, float, float]]) -> str:
    lines = ["| " + " | ".join(E2E_HEADERS) + " |", "|" + "---|" * len(E2E_HEADERS)]
    lines += ["| " + " | ".join(row) + " |" for row in e2e]
    lines += ["", "| " + " | ".join(MICRO_HEADERS) + " |", "|---|---|---|"]
    lines += [f"| {name.strip()} | {m:,.0f} | {b:,.0f} |" for name, m, b in micro_rows]
    return "\n".join(lines)


def verdict(kinds: Sequence[Kind], loop_ns: float) -> str:
    """The measured share of each request's CPU, against the goal (set for a transfer)."""
    parts = []
    for kind in kinds:
        with_, without = kind.series[WITH].cpu_us(), kind.series[WITHOUT].cpu_us()
        share = with_ / without - 1
        mark = "within" if share <= OVERHEAD_GOAL else "OVER"
        parts.append(
            f"{kind.name}: +{with_ - without:.1f} µs CPU = {share:+.1%} ({mark} "
            f"{OVERHEAD_GOAL:.0%}); in place {kind.own_us[WITH] - kind.own_us[WITHOUT]:.1f} µs"
        )
    return (
        "SliMiddleware per request, measured: "
        + "; ".join(parts)
        + f". Around a no-op app in a loop: {loop_ns / 1000:.1f} µs."
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--transfers", type=int, default=20_000, help="per app (default 20000)")
    parser.add_argument("--healthz", type=int, default=20_000, help="per app (default 20000)")
    parser.add_argument("--block", type=int, default=500, help="requests per block")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    memory = MEMORY_DIR if MEMORY_DIR.is_dir() and os.access(MEMORY_DIR, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="paycore-bench-sli-", dir=memory) as tmp:
        runtime = build_runtime(Path(tmp))
        try:
            _key, api_key = runtime.api_keys.issue(
                merchant_id=None, scopes=["admin"], label="bench"
            )
            apps = {WITH: probed_app(runtime, sli=True), WITHOUT: probed_app(runtime, sli=False)}
            kinds = [healthz_kind(args.healthz), transfer_kind(args.transfers, api_key)]
            wrong = asyncio.run(run_all(apps, kinds, args.block))
            micro_rows = micro(runtime.slo_config)
        finally:
            runtime.close()
    console.print(
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; SQLite in "
        f"{'memory (/dev/shm)' if memory else 'the temp dir'}; blocks of {args.block}"
    )
    e2e = end_to_end_rows(kinds)
    print_tables(e2e, micro_rows)
    console.print(verdict(kinds, micro_rows[-1][1]))
    if args.markdown:
        print(markdown(e2e, micro_rows))
    if wrong:
        console.print(f"[red]{wrong} wrong answers (not timed in)[/red]")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
