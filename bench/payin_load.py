"""The load generator of bench/payments.py: a small HTTP/1.1 client that POSTs pay-ins,
closed-loop (N clients, each waiting for its answer) or open-loop (a fixed rate, whatever
the answers). It shares 2 cores with everything else, so it stays small: no HTTP library's
per-request machinery, one keep-alive connection per request in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass

CARD_NUMBER = "4111111111111111"  # passes the bank's Luhn check
HTTP_TIMEOUT_S = 30.0
IN_FLIGHT_MAX = 512
KEEPALIVE_S = 4.0
"""The load generator reuses a connection idle for less than this: uvicorn closes it at 5 s."""
NOT_SENT = "not sent: too many in flight"


class Connection:
    """One keep-alive HTTP/1.1 connection; answers must carry Content-Length (uvicorn's do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        content = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection") == "close":
            self.close()
        self.idle_since = time.monotonic()
        return status, content

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True, slots=True)
class Sample:
    started: float  # perf_counter
    latency_s: float
    status: int  # HTTP status; 0 when the request itself failed
    channel: str | None = None
    result_unknown: bool = False
    error: str | None = None


class PayinClient:
    """POST /v1/payins with a new Idempotency-Key each time, over pooled connections."""

    def __init__(self, port: int, api_key: str, product: str) -> None:
        self.port = port
        self.product = product
        self.run_id = uuid.uuid4().hex[:8]
        self.auth = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.idle: list[Connection] = []
        self.count = 0

    async def _connection(self) -> tuple[Connection, bool]:
        """An idle connection the server has not closed yet, else a new one; and whether
        it was reused (uvicorn closes a connection idle for 5 s)."""
        while self.idle:
            conn = self.idle.pop()
            if time.monotonic() - conn.idle_since < KEEPALIVE_S and not conn.closed:
                return conn, True
            conn.close()
        return await Connection.open(self.port), False

    async def pay_in(self, scheduled: float | None = None) -> Sample:
        """One pay-in; its latency runs from `scheduled` (perf_counter) when given, so an
        open-loop request that waited for the load generator counts that wait too."""
        self.count += 1
        body = json.dumps(
            {
                "product": self.product,
                "amount": 100 + self.count % 100_000,
                "currency": "CNY",
                "payer": {"card_number": CARD_NUMBER},
            }
        ).encode()
        headers = {**self.auth, "Idempotency-Key": f"{self.run_id}-{self.count}"}
        started = time.perf_counter() if scheduled is None else scheduled
        try:
            status, content = await self._post(headers, body)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            return Sample(started, time.perf_counter() - started, 0, error=type(exc).__name__)
        latency = time.perf_counter() - started
        if status != 201:
            return Sample(started, latency, status, error=content[:200].decode(errors="replace"))
        view = json.loads(content)
        return Sample(started, latency, status, view.get("channel"), bool(view["result_unknown"]))

    async def _post(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """POST /v1/payins; again on a new connection if a reused one was closed under us
        (with the same Idempotency-Key, the retry cannot pay twice)."""
        conn, reused = await self._connection()
        while True:
            try:
                status, content = await asyncio.wait_for(
                    conn.request("POST", "/v1/payins", headers, body), HTTP_TIMEOUT_S
                )
            except (OSError, asyncio.IncompleteReadError):
                conn.close()
                if not reused:
                    raise
                conn, reused = await Connection.open(self.port), False
                continue
            except BaseException:
                conn.close()
                raise
            if not conn.closed:
                self.idle.append(conn)
            return status, content

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


async def closed_loop(client: PayinClient, clients: int, seconds: float) -> list[Sample]:
    samples: list[Sample] = []
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        while time.perf_counter() < deadline:
            samples.append(await client.pay_in())

    await asyncio.gather(*(one() for _ in range(clients)))
    return samples


async def open_loop(client: PayinClient, rate: float, stop: asyncio.Event) -> list[Sample]:
    """`rate` pay-ins a second on a fixed schedule, whatever the answers, until `stop`."""
    samples: list[Sample] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(due: float) -> None:
        samples.append(await client.pay_in(scheduled=due))

    start = time.perf_counter()
    n = 0
    while not stop.is_set():
        due = start + n / rate
        now = time.perf_counter()
        if due > now:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), due - now)
            continue
        if len(tasks) < IN_FLIGHT_MAX:
            task = asyncio.create_task(one(due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        else:
            samples.append(Sample(due, 0.0, 0, error=NOT_SENT))
        n += 1
    if tasks:
        await asyncio.wait(tasks, timeout=HTTP_TIMEOUT_S)
    return samples
