"""The month-end storm (issue 13 §4, the 3/1 incident replayed) against a running server.

Pay-ins arrive at a steady rate (open loop) for the whole run. After a warm-up (pay-ins,
and every bill route once, so imports, templates and fonts are loaded), quiet and storm
phases alternate, `rounds` times each, so that a change of the machine's load from other
work falls on both alike. In a storm phase `clients` bill readers (200) arrive within
`ramp_s` (1 s; 0 for one instant: then the test measures how fast one process can read
200 requests and answer them, not bills), each
asking for a heavy bill (statement, page, JSON, CSV export, ...) as soon as its last one
answered, and honouring Retry-After (x1-1.5, jittered) when turned away: the burst of the
month's first morning, and what well-behaved clients do next.

The readers run in a process of their own, so their work cannot delay the pay-ins' load
generator (which would count as pay-in latency). Measured: every pay-in's latency, by the
phase it started in (the second after a storm is left out: its last bills finish there),
and every bill's status and problem code.

    result = run_storm(Storm(port=..., payin_key=..., targets=[BillTarget(key, merchant)],
                             month="2026-12"))
    print(result.line())   # "storm: ... ratio 1.05 ..."; result.ratio, result.ok()

Used by tests/bills/test_storm.py (a real `paycore serve`) and bench/bills.py. Run alone
(`python bench/bills_storm.py [--database-url URL] [--processes 0,2] [--runs 3]`) it
prints the ratio per PAYCORE_BILLS_PROCESSES, each run against a fresh `paycore serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from payin_load import KEEPALIVE_S, PayinClient, Sample, open_loop

ROUTES = (
    "/v1/bills/{merchant}/statements/{month}",
    "/v1/bills/{merchant}/{month}.html",
    "/v1/bills/{merchant}/{month}.json",
    "/v1/bills/{merchant}/orders.csv?month={month}",
    "/v1/bills/{merchant}/orders?month={month}",
    "/v1/bills/{merchant}/{month}/statement",
)
"""Heavy bill reads, every one behind `admit`. (The PDF is left to bench/bills.py.)"""
ANSWER_TIMEOUT_S = 60.0
SETTLE_S = 1.0
"""Pay-ins started this long after a storm phase belong to neither phase."""
RETRY_JITTER = (1.0, 1.5)
SETTLED_AFTER_S = 2.0
"""The storm's first seconds are the readers' arrival (see StormResult.p99_settled_s)."""


@dataclass(frozen=True, slots=True)
class BillTarget:
    key: str
    merchant: str


@dataclass(frozen=True)
class Storm:
    port: int
    payin_key: str
    targets: Sequence[BillTarget]
    month: str
    routes: Sequence[str] = ROUTES
    product: str = "rent"
    payin_rate_per_s: float = 30.0
    clients: int = 200
    rounds: int = 3
    phase_s: float = 10.0
    warmup_s: float = 4.0
    ramp_s: float = 1.0
    """The readers arrive within this much of the storm's start (0: all in one instant)."""


@dataclass
class StormResult:
    before: list[float] = field(default_factory=list)  # pay-in latencies (s), quiet phases
    during: list[float] = field(default_factory=list)  # pay-in latencies (s), storm phases
    during_at_s: list[float] = field(default_factory=list)  # each one's start in its storm
    payin_errors: list[str] = field(default_factory=list)
    bill_statuses: Counter[int] = field(default_factory=Counter)
    bill_codes: Counter[str] = field(default_factory=Counter)
    bill_errors: list[str] = field(default_factory=list)
    bill_ok_latency_s: list[float] = field(default_factory=list)

    @property
    def p99_before_s(self) -> float:
        return percentile(self.before, 0.99)

    @property
    def p99_during_s(self) -> float:
        return percentile(self.during, 0.99)

    @property
    def ratio(self) -> float:
        return self.p99_during_s / self.p99_before_s if self.before else float("nan")

    def p99_settled_s(self, after_s: float) -> float:
        """p99 of the storm's pay-ins that started `after_s` or later into it: without the
        readers' arrival (200 connections and requests in one second), what is left is
        the steady storm (bills admitted, refusals coming back on Retry-After)."""
        return percentile(
            [v for v, at in zip(self.during, self.during_at_s, strict=True) if at >= after_s], 0.99
        )

    def unexpected_bills(self) -> dict[int, int]:
        return {s: n for s, n in self.bill_statuses.items() if s not in (200, 429)}

    def line(self) -> str:
        """One line for logs and for bench/bills.py to quote."""
        ms = 1000
        bills = ", ".join(f"{s}: {n}" for s, n in sorted(self.bill_statuses.items()))
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(self.bill_codes.items()))
        return (
            f"storm: pay-ins p50/p99 before {percentile(self.before, 0.5) * ms:.1f}/"
            f"{self.p99_before_s * ms:.1f} ms (n={len(self.before)}), during "
            f"{percentile(self.during, 0.5) * ms:.1f}/{self.p99_during_s * ms:.1f} ms "
            f"(n={len(self.during)}), p99 ratio {self.ratio:.2f} (after the readers' arrival "
            f"{self.p99_settled_s(SETTLED_AFTER_S) / self.p99_before_s:.2f}); pay-in errors "
            f"{len(self.payin_errors)}; bills {bills} ({codes}); bill p50 "
            f"{percentile(self.bill_ok_latency_s, 0.5) * ms:.0f} ms"
        )


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (no interpolation: p99 of 1,000 is the 990th)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def run_storm(storm: Storm) -> StormResult:
    return asyncio.run(_run(storm))


async def _run(storm: Storm) -> StormResult:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as readers:
        await asyncio.to_thread(readers.apply, _ready)  # started and imported, before timing
        payins = PayinClient(storm.port, storm.payin_key, storm.product)
        stop = asyncio.Event()
        load = asyncio.create_task(open_loop(payins, storm.payin_rate_per_s, stop))
        started = time.perf_counter()
        await _warm_up(storm)
        await asyncio.sleep(max(0.0, started + storm.warmup_s - time.perf_counter()))
        quiet, storms = _schedule(time.perf_counter() + 0.2, storm)
        bills = readers.apply_async(_storm_process, (storm, storms))
        await asyncio.sleep(max(0.0, storms[-1][1] + SETTLE_S - time.perf_counter()))
        stop.set()
        samples = await load
        outcome: dict[str, Any] = await asyncio.to_thread(bills.get, ANSWER_TIMEOUT_S * 2)
    payins.close()
    return _result(samples, quiet, storms, outcome)


def _schedule(
    start: float, storm: Storm
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Quiet, storm, quiet, storm...: windows in perf_counter seconds (one clock for every
    process on Linux: CLOCK_MONOTONIC)."""
    quiet, storms = [], []
    at = start
    for _ in range(storm.rounds):
        quiet.append((at, at + storm.phase_s))
        at += storm.phase_s
        storms.append((at, at + storm.phase_s))
        at += storm.phase_s + SETTLE_S
    return quiet, storms


def _result(
    samples: list[Sample],
    quiet: list[tuple[float, float]],
    storms: list[tuple[float, float]],
    outcome: dict[str, Any],
) -> StormResult:
    result = StormResult(
        bill_statuses=Counter(outcome["statuses"]),
        bill_codes=Counter(outcome["codes"]),
        bill_errors=outcome["errors"],
        bill_ok_latency_s=outcome["ok_latency_s"],
    )
    for sample in samples:
        if sample.status != 201:
            result.payin_errors.append(f"{sample.status} {sample.error}")
            continue
        if any(a <= sample.started < b for a, b in quiet):
            result.before.append(sample.latency_s)
        else:
            for a, b in storms:
                if a <= sample.started < b:
                    result.during.append(sample.latency_s)
                    result.during_at_s.append(sample.started - a)
    return result


async def _warm_up(storm: Storm) -> None:
    """Every route once for the first target: the server's first bill of each kind loads
    code, templates and fonts, which no later bill pays again."""
    target = storm.targets[0]
    conn = await BillConnection.open(storm.port)
    try:
        for route in storm.routes:
            path = route.format(merchant=target.merchant, month=storm.month)
            await conn.get(path, target.key)
    finally:
        conn.close()


# --- the readers' process ---------------------------------------------------------------


def _ready() -> None:
    """Nothing: the first task of the readers' process, to wait for it to start."""


def _storm_process(storm: Storm, windows: list[tuple[float, float]]) -> dict[str, Any]:
    return asyncio.run(_storms(storm, windows))


async def _storms(storm: Storm, windows: list[tuple[float, float]]) -> dict[str, Any]:
    outcome: dict[str, Any] = {"statuses": Counter(), "codes": Counter(), "errors": []}
    outcome["ok_latency_s"] = []
    rng = random.Random(13)
    for start, end in windows:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        readers = [_reader(storm, end, rng, n, outcome) for n in range(storm.clients)]
        await asyncio.gather(*readers)
    outcome["statuses"] = dict(outcome["statuses"])
    outcome["codes"] = dict(outcome["codes"])
    return outcome


async def _reader(
    storm: Storm, end: float, rng: random.Random, n: int, outcome: dict[str, Any]
) -> None:
    target = storm.targets[n % len(storm.targets)]
    conn: BillConnection | None = None
    await asyncio.sleep(rng.uniform(0, storm.ramp_s))
    try:
        while time.perf_counter() < end:
            route = storm.routes[rng.randrange(len(storm.routes))]
            path = route.format(merchant=target.merchant, month=storm.month)
            if conn is None or not conn.reusable():
                if conn is not None:
                    conn.close()
                conn = await BillConnection.open(storm.port)
            began = time.perf_counter()
            try:
                status, headers, body = await asyncio.wait_for(
                    conn.get(path, target.key), ANSWER_TIMEOUT_S
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                outcome["statuses"][0] = outcome["statuses"].get(0, 0) + 1
                outcome["errors"].append(f"{path}: {type(exc).__name__}")
                conn.close()
                conn = None
                continue
            outcome["statuses"][status] += 1
            if status == 200:
                outcome["ok_latency_s"].append(time.perf_counter() - began)
                continue
            code = _code_of(body)
            outcome["codes"][code] += 1
            if status != 429:
                outcome["errors"].append(f"{path}: {status} {body[:300]!r}")
                continue
            retry_after_s = float(headers.get("retry-after", "1"))
            await asyncio.sleep(min(retry_after_s * rng.uniform(*RETRY_JITTER), end - began))
    finally:
        if conn is not None:
            conn.close()


def _code_of(body: bytes) -> str:
    import json

    with contextlib.suppress(ValueError):
        document = json.loads(body)
        if isinstance(document, dict):
            return str(document.get("code", "?"))
    return "?"


class BillConnection:
    """One keep-alive HTTP/1.1 connection for GETs; reads fixed-length and chunked answers
    (exports stream) and counts, not keeps, what it does not need."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    def reusable(self) -> bool:
        """Open, and idle for less than uvicorn keeps a connection (5 s): a reader that
        waited out a long Retry-After connects again, as a browser would."""
        return not self.closed and time.monotonic() - self.idle_since < KEEPALIVE_S

    @classmethod
    async def open(cls, port: int) -> BillConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        return cls(reader, writer)

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()

    async def get(self, path: str, key: str) -> tuple[int, dict[str, str], bytes]:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n"
        self.writer.write(head.encode())
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        if headers.get("transfer-encoding") == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            self.close()
        self.idle_since = time.monotonic()
        return status, headers, body if status != 200 else b""

    async def _chunked(self) -> bytes:
        kept = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return kept
            if len(kept) < 1024:
                kept += chunk[:-2]


# --- the bench: with and without bill worker processes --------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python bench/bills_storm.py [--database-url URL] [--processes 0,2] [--runs 3]`: the
    storm against a fresh `paycore serve` per run, for each PAYCORE_BILLS_PROCESSES; one
    table of the pay-ins' p99 before and during, and their ratio (goal <= 1.2)."""
    import argparse
    import os
    import statistics
    import tempfile
    from pathlib import Path

    from payments_setup import run_cli

    parser = argparse.ArgumentParser(description="the month-end storm, by bill processes")
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    parser.add_argument("--processes", default="0,2", help="PAYCORE_BILLS_PROCESSES to try")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="quiet+storm phases per run")
    parser.add_argument("--merchants", type=int, default=10)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bills-storm-"))
    env = dict(
        os.environ,
        PAYCORE_DATABASE_URL=args.database_url or f"sqlite:///{work / 'paycore.db'}",
        PAYCORE_DATA_DIR=str(work / "data"),
    )
    run_cli(["db", "upgrade"], env)
    stamp = time.time_ns() // 1_000_000
    targets = []
    for n in range(args.merchants):
        merchant = f"mch_storm{stamp}_{n}"
        run_cli(["merchants", "create", "--name", f"Storm {n}", "--id", merchant], env)
        command = ["keys", "create", "--merchant", merchant, "--label", "storm", "-q"]
        targets.append(BillTarget(run_cli(command, env).strip(), merchant))
    month = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))  # China Standard
    print(f"{'processes':>9} {'run':>3} {'p99 before':>10} {'p99 during':>10} {'ratio':>6} "
          f"{'settled':>7} {'pay-in errors':>13}  bills")  # fmt: skip
    ratios: dict[int, list[float]] = {}
    for processes in (int(p) for p in args.processes.split(",")):
        for run in range(1, args.runs + 1):
            env["PAYCORE_BILLS_PROCESSES"] = str(processes)
            result = _one_run(env, work / f"serve-{processes}-{run}.log", targets, month, args)
            ratios.setdefault(processes, []).append(result.ratio)
            settled = result.p99_settled_s(SETTLED_AFTER_S) / result.p99_before_s
            bills = ", ".join(f"{s}: {n}" for s, n in sorted(result.bill_statuses.items()))
            print(f"{processes:>9} {run:>3} {result.p99_before_s * 1000:>8.1f}ms "
                  f"{result.p99_during_s * 1000:>8.1f}ms {result.ratio:>6.2f} {settled:>7.2f} "
                  f"{len(result.payin_errors):>13}  {bills}", flush=True)  # fmt: skip
    for processes, found in ratios.items():
        print(f"processes {processes}: ratio median {statistics.median(found):.2f} "
              f"(min {min(found):.2f}, max {max(found):.2f}; goal <= 1.2)")  # fmt: skip
    return 0


def _one_run(
    env: dict[str, str], log_path: Any, targets: list[BillTarget], month: str, args: Any
) -> StormResult:
    import signal
    import subprocess
    import sys

    import httpx

    from common import free_port

    port = free_port()
    run_env = dict(
        env,
        PAYCORE_SANDBOX_URL=f"http://127.0.0.1:{free_port()}",
        PAYCORE_FINANCE_URL=f"http://127.0.0.1:{free_port()}",
    )
    command = [sys.executable, "-c", "from paycore.cli import main; main()"]
    with open(log_path, "wb") as out:
        server = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            env=run_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"paycore serve did not start: see {log_path}")
            time.sleep(0.3)
        storm = Storm(
            port=port, payin_key=targets[0].key, targets=targets, month=month, rounds=args.rounds
        )
        return run_storm(storm)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    raise SystemExit(main())
