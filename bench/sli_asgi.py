"""bench/sli.py's ASGI plumbing: one request sent as a server would, and the probe that
times what lies between two points of the middleware stack."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""

    def scope(self) -> Scope:
        return {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": self.method, "scheme": "http", "path": self.path,
            "raw_path": self.path.encode(), "query_string": b"", "root_path": "",
            "headers": self.headers, "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    wall_s: float
    cpu_s: float


async def send_one(app: ASGIApp, call: Call) -> Answer:
    """One request as a server would send it; only the app's own work is timed."""
    scope = call.scope()
    done = asyncio.Event()
    first = True
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": call.body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    wall, cpu = time.perf_counter(), time.process_time()
    await app(scope, receive, send)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done.set()
    return Answer(status, b"".join(chunks), wall, cpu)


class Probe:
    """Wall ns of each call to the app it wraps. One probe sits where SliMiddleware would and
    one right inside it, in both apps: outer minus inner is the middleware's own time per
    request in place (caches cold after the handler), which a loop around a no-op app does
    not show. Both apps carry both probes, so the CPU ratio still compares like with like."""

    def __init__(self, app: ASGIApp, sink: list[int]) -> None:
        self.app = app
        self.sink = sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter_ns()
        await self.app(scope, receive, send)
        self.sink.append(time.perf_counter_ns() - started)
