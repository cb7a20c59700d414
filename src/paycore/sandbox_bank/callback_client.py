"""A lean HTTP/1.1 POST client for the bank's callbacks: h11 on asyncio streams, keep-alive.

Why not httpx.AsyncClient: measured on the 2-core benchmark machine, one callback cost
1.5-3.5 ms of CPU through httpx's async stack and 0.15-0.2 ms here, and the benchmark sends
one callback per pay-in at 1,000 pay-ins/s. The bank only ever POSTs a small body and reads
a status code, so this is all it needs: a pool of idle connections per origin, a timeout
per exchange, one retry when a reused connection turns out to be closed by the server.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

READ_CHUNK_BYTES = 65_536
RESPONSE_BYTES_MAX = 1_048_576
"""A receiver's answer body is read and dropped; one larger than this is refused."""
IDLE_REUSE_MAX_S = 4.0
"""Uvicorn drops idle keep-alive connections after 5 s; older ones are not reused."""


class CallbackFailed(Exception):
    """No status code came back: refused, timed out, reset or malformed."""


Origin = tuple[str, str, int]


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0
    reused: bool = False

    def close(self) -> None:
        self.writer.close()


class CallbackClient:
    def __init__(self, *, timeout_s: float, idle_per_origin_max: int = 32) -> None:
        self.timeout_s = timeout_s
        self._idle_per_origin_max = idle_per_origin_max
        self._idle: dict[Origin, list[_Connection]] = {}
        self._tls = ssl.create_default_context()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST `body`; returns the response's status code or raises CallbackFailed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CallbackFailed(f"not an http(s) URL: {url[:100]}")
        default_port = 443 if parts.scheme == "https" else 80
        origin = (parts.scheme, parts.hostname, parts.port or default_port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_headers = [("Host", parts.netloc), ("Content-Length", str(len(body)))]
        request_headers += list(headers.items())
        for _ in range(2):
            connection = self._take(origin) or await self._connect(origin)
            try:
                async with asyncio.timeout(self.timeout_s):
                    status = await _exchange(connection, target, request_headers, body)
            except (OSError, TimeoutError, h11.ProtocolError, CallbackFailed) as exc:
                connection.close()
                if connection.reused and not isinstance(exc, TimeoutError):
                    continue  # the server had closed the idle connection: try a fresh one
                raise CallbackFailed(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:
                connection.close()
                raise
            self._give_back(origin, connection)
            return status
        raise CallbackFailed("the connection closed twice")  # pragma: no cover

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if now - connection.idle_since < IDLE_REUSE_MAX_S and not connection.reader.at_eof():
                connection.reused = True
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._tls if scheme == "https" else None
                )
        except (OSError, TimeoutError) as exc:
            raise CallbackFailed(f"cannot connect: {type(exc).__name__}") from exc
        return _Connection(reader, writer)

    def _give_back(self, origin: Origin, connection: _Connection) -> None:
        protocol = connection.protocol
        if protocol.our_state is not h11.DONE or protocol.their_state is not h11.DONE:
            connection.close()
            return
        protocol.start_next_cycle()
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= self._idle_per_origin_max:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)


async def _exchange(
    connection: _Connection, target: str, headers: list[tuple[str, str]], body: bytes
) -> int:
    protocol = connection.protocol
    data = protocol.send(h11.Request(method="POST", target=target, headers=headers)) or b""
    data += protocol.send(h11.Data(data=body)) or b""
    data += protocol.send(h11.EndOfMessage()) or b""
    connection.writer.write(data)
    status = 0
    received = 0
    while True:
        event = protocol.next_event()
        if event is h11.NEED_DATA:
            chunk = await connection.reader.read(READ_CHUNK_BYTES)
            if not chunk and protocol.their_state is h11.SEND_RESPONSE and status == 0:
                raise CallbackFailed("the connection closed before an answer")
            protocol.receive_data(chunk)
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            received += len(event.data)
            if received > RESPONSE_BYTES_MAX:
                raise CallbackFailed("the answer is too large")
        elif isinstance(event, h11.EndOfMessage):
            return status
        elif isinstance(event, h11.ConnectionClosed):
            raise CallbackFailed("the connection closed mid-answer")
