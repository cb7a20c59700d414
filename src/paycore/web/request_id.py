"""Every request carries an id: the caller's `X-Request-ID`, or a new one. It is echoed in
the response and named in every problem document (and in the log of a failure), so support
can find one request's trail."""

from __future__ import annotations

import contextvars
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paycore.ids import new_id

HEADER = b"x-request-id"
_ACCEPTED = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdMiddleware:
    """Plain ASGI rather than BaseHTTPMiddleware: it sits on the path of every transfer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"")
        request_id = given.decode() if _ACCEPTED.fullmatch(given) else new_id("req")
        # Not reset afterwards: each request runs in its own task, whose context dies with it,
        # and the server's last-resort error handler (outside this middleware) still reads it.
        current.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
