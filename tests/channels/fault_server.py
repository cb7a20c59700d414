"""A real TCP server on 127.0.0.1 that misbehaves on purpose, one behaviour per connection.

Each accepted connection is handed to `behaviour(connection, index)` in its own thread;
`requests` counts the requests whose head arrived, so a test can tell "never sent" from
"sent, then the answer was lost".
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

Behaviour = Callable[["FaultServer", socket.socket, int], None]


@dataclass
class FaultServer:
    listener: socket.socket
    behaviour: Behaviour
    requests: int = 0
    connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def read_request(self, connection: socket.socket) -> bytes:
        """The request's head and body (by Content-Length); b"" if the peer closed first."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65_536)
            if not chunk:
                return b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += connection.recv(65_536)
        with self._lock:
            self.requests += 1
        return data

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                index = self.connections
                self.connections += 1
            threading.Thread(target=self._handle, args=(connection, index), daemon=True).start()

    def _handle(self, connection: socket.socket, index: int) -> None:
        with connection, suppress(OSError):  # the client gave up first
            self.behaviour(self, connection, index)


@contextmanager
def fault_server(behaviour: Behaviour) -> Iterator[FaultServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server = FaultServer(listener, behaviour)
    threading.Thread(target=server._serve, daemon=True).start()
    try:
        yield server
    finally:
        listener.close()


def answer(status: int, body: bytes = b"{}", *, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n".encode()
        + connection
        + b"\r\n"
        + body
    )


def reset(connection: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER on, zero seconds)."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
