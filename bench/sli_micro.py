"""bench/sli.py's micro-benchmarks: what SliMiddleware adds to a request, piece by piece,
each in a tight loop (warm caches: the in-place figure of bench/sli.py is the honest one)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paycore.clock import SystemClock
from paycore.ops.sli import API_AVAILABILITY, SliMiddleware, SliRecorder
from paycore.ops.slo import SloConfig

MICRO_CALLS = 20_000
MICRO_REPEATS = 7
TRANSFERS = "/v1/transfers"


def per_call_ns(fn: Callable[[], object], calls: int = MICRO_CALLS) -> tuple[float, float]:
    """CPU ns per call: the median and the best of MICRO_REPEATS runs."""
    runs = []
    for _ in range(MICRO_REPEATS):
        started = time.process_time_ns()
        for _ in range(calls):
            fn()
        runs.append((time.process_time_ns() - started) / calls)
    return statistics.median(runs), min(runs)


def asgi_per_call_ns(app: ASGIApp, scope: Scope) -> tuple[float, float]:
    """The same, for one ASGI call to `app` (a fresh scope copy each time, as a server)."""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: Message) -> None:
        return None

    async def loop() -> tuple[float, float]:
        runs = []
        for _ in range(MICRO_REPEATS):
            started = time.process_time_ns()
            for _ in range(MICRO_CALLS):
                await app(dict(scope), receive, send)
            runs.append((time.process_time_ns() - started) / MICRO_CALLS)
        return statistics.median(runs), min(runs)

    return asyncio.run(loop())


async def _no_op_app(_scope: Scope, _receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def micro(config: SloConfig) -> list[tuple[str, float, float]]:
    """(operation, CPU ns per call: median, best). The last row is the middleware's own."""
    recorder = SliRecorder(config, SystemClock())
    at = datetime.now(UTC)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("SliRecorder.record (clock read)", lambda: recorder.record(API_AVAILABILITY, good=True)),
        (
            "SliRecorder.record (at= given)",
            lambda: recorder.record(API_AVAILABILITY, good=True, at=at),
        ),
        ("route_family('/healthz')", lambda: config.route_family("/healthz")),
        ("route_family('/v1/transfers')", lambda: config.route_family("/v1/transfers")),
        (
            "route_family('/v1/merchants/m1') (other)",
            lambda: config.route_family("/v1/merchants/m1"),
        ),
        (
            "record_request('/v1/transfers', 200)",
            lambda: recorder.record_request(TRANSFERS, 200, 3.0),
        ),
    ]
    rows = [(name, *per_call_ns(fn)) for name, fn in cases]
    scope: Scope = {"type": "http", "method": "POST", "path": TRANSFERS, "headers": []}
    scope["app"] = SimpleNamespace(state=SimpleNamespace(sli=recorder))
    bare = asgi_per_call_ns(_no_op_app, scope)
    wrapped = asgi_per_call_ns(SliMiddleware(_no_op_app), scope)
    rows.append(("no-op ASGI app alone", *bare))
    rows.append(("SliMiddleware(no-op app)", *wrapped))
    rows.append(("  = the middleware per request", wrapped[0] - bare[0], wrapped[1] - bare[1]))
    return rows
