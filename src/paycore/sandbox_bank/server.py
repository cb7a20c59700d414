"""Run the bank (or any ASGI app) inside this process, for tests, chaos runs and benchmarks.

    with run_bank(BankConfig(data_dir=tmp_path, seed=7)) as base_url:
        channel = load_sandbox_channel("sandbox", base_url, tmp_path)

Each server gets its own thread and event loop on a free 127.0.0.1 port. Also a tiny
notification receiver that records callbacks and can be told to refuse them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from paycore.clock import Clock
from paycore.sandbox_bank.api import create_bank_app
from paycore.sandbox_bank.config import BankConfig

SERVER_START_TIMEOUT_S = 15.0
SERVER_STOP_TIMEOUT_S = 10.0


@contextmanager
def serve_app(app: ASGIApp, *, port: int = 0) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port unless given) in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    bound_port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"asgi-{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the server on port {bound_port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_STOP_TIMEOUT_S)
        sock.close()


@contextmanager
def run_bank(config: BankConfig, *, port: int = 0, clock: Clock | None = None) -> Iterator[str]:
    """A sandbox bank serving on 127.0.0.1 until the block ends; yields its base URL.

    `port` 0 (the default) picks a free port; config.port is for `paycore sandbox-bank`.
    """
    with serve_app(create_bank_app(config, clock=clock), port=port) as base_url:
        yield base_url


@dataclass(frozen=True, slots=True)
class ReceivedCallback:
    path: str
    headers: Mapping[str, str]
    body: bytes
    answered: int  # the status code the receiver answered with


class NotificationReceiver:
    """Records every callback; answers 200, or 503 while refusing (`refuse_next`, `refusing`)."""

    def __init__(self) -> None:
        self.url = ""
        self.refusing = False
        self._refuse_next = 0
        self._received: list[ReceivedCallback] = []
        self._changed = threading.Condition()
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    def refuse_next(self, count: int) -> None:
        with self._changed:
            self._refuse_next = count

    @property
    def received(self) -> list[ReceivedCallback]:
        with self._changed:
            return list(self._received)

    def accepted(self) -> list[ReceivedCallback]:
        return [callback for callback in self.received if callback.answered == 200]

    def wait_for(
        self, predicate: Callable[[list[ReceivedCallback]], bool], *, timeout_s: float = 5.0
    ) -> list[ReceivedCallback]:
        """Block until `predicate(received)` holds; raises TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._received), timeout_s):
                raise TimeoutError(f"after {timeout_s} s the receiver had {len(self._received)}")
            return list(self._received)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        with self._changed:
            refuse = self.refusing or self._refuse_next > 0
            self._refuse_next = max(self._refuse_next - 1, 0)
            status = 503 if refuse else 200
            headers = dict(request.headers.items())
            self._received.append(ReceivedCallback(request.url.path, headers, body, status))
            self._changed.notify_all()
        return Response(status_code=status)


@contextmanager
def run_notification_receiver() -> Iterator[NotificationReceiver]:
    """A receiver serving on 127.0.0.1; its callbacks URL is `receiver.url`."""
    receiver = NotificationReceiver()
    with serve_app(receiver.app) as base_url:
        receiver.url = f"{base_url}/callbacks"
        yield receiver
