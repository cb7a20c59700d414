"""A fast lane in front of the router for the few routes on the money path.

Measured with py-spy on `POST /v1/transfers`, two thirds of the server's CPU went to the
framework per request: matching ~90 routes, solving four dependencies, re-reading the body
through FastAPI's field machinery. A lane answers a *well-formed* request to one of its
routes with the same handler code the route runs, the same checks and the same response:

- the path, the method and a JSON (or absent) Content-Type select the lane, with no query;
- the caller's key must be one this process authenticated within the cache's TTL and carry
  the lane's scope (`ApiKeys.cached`, the same hit the route's dependency takes);
- the body must parse with strict_json and validate against the route's own body model.

Anything else (a missing or unknown key, a missing scope, a malformed or invalid body, a
control character in the path) goes on to the router untouched, with the body replayed,
so every refusal is the one the route gives, from the same code: nothing is answered here
that the route could answer differently. Exceptions from a lane's handler (a `Rejected`
from the service, a bug) propagate to the same exception handlers as the route's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paycore import strict_json
from paycore.errors import Rejected
from paycore.security.model import Principal
from paycore.security.service import ApiKeys
from paycore.web.bodies import check_target

_JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class LaneRequest:
    scope: Scope
    headers: Mapping[bytes, bytes]
    """The first value of each header, names in lower case (ASGI gives them so)."""
    path_params: Mapping[str, str]
    principal: Principal | None
    body: Any
    """The validated body model, or the raw bytes for a lane without a body model."""

    @property
    def state(self) -> Any:
        return self.scope["app"].state


Handler = Callable[[LaneRequest], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Lane:
    """One route's fast lane. `scope`: the API key scope the route requires (None: no key,
    e.g. a channel's callback signed by the channel). `body`: the route's body model (None:
    the handler reads the raw bytes itself, as the route does)."""

    method: str
    path: str
    """Exact, or with one `{name}` segment: `/v1/channels/{channel}/notifications`."""
    handle: Handler
    scope: str | None = None
    body: type[BaseModel] | None = None

    def match(self, path: str) -> dict[str, str] | None:
        head, brace, rest = self.path.partition("{")
        if not brace:
            return {} if path == self.path else None
        name, _, tail = rest.partition("}")
        if not (path.startswith(head) and path.endswith(tail)):
            return None
        value = path[len(head) : len(path) - len(tail)]
        if not value or "/" in value:
            return None
        return {name: value}


class FastLane:
    """Plain ASGI, inside the app's middleware and exception handling, before the router."""

    def __init__(self, app: ASGIApp, lanes: list[Lane]) -> None:
        self.app = app
        self._lanes: dict[str, list[Lane]] = {}
        for lane in lanes:
            self._lanes.setdefault(lane.method, []).append(lane)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("query_string") or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        for lane in self._lanes.get(scope["method"], ()):
            path_params = lane.match(path)
            if path_params is not None:
                await self._serve(lane, path_params, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(
        self, lane: Lane, path_params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        principal = None
        if lane.scope is not None:
            principal = _principal(lane.scope, scope, headers)
            if principal is None:
                await self.app(scope, receive, send)
                return
        if not _target_ok(scope):
            await self.app(scope, receive, send)
            return
        body, last = await _read_body(receive)
        parsed = _parse(lane, headers, body) if last is None else _REFUSED
        if parsed is _REFUSED:
            await self.app(scope, _replay(body, last, receive), send)
            return
        request = LaneRequest(
            scope=scope, headers=headers, path_params=path_params, principal=principal, body=parsed
        )
        response = await lane.handle(request)
        await response(scope, receive, send)


_REFUSED: Any = object()


def _principal(required: str, scope: Scope, headers: Mapping[bytes, bytes]) -> Principal | None:
    """The caller if it may use the lane without the route's help, else None."""
    authorization = headers.get(b"authorization")
    if authorization is None:
        return None
    # As HTTPBearer reads it, so the cache is asked about exactly the same string.
    scheme, credentials = get_authorization_scheme_param(authorization.decode("latin-1"))
    if scheme.lower() != "bearer" or not credentials:
        return None
    api_keys: ApiKeys = scope["app"].state.api_keys
    principal = api_keys.cached(credentials)
    if principal is None or not principal.can(required):
        return None
    return principal


def _parse(lane: Lane, headers: Mapping[bytes, bytes], body: bytes) -> Any:
    if lane.body is None:
        return body
    content_type = headers.get(b"content-type")
    if content_type is not None and content_type.lower() != _JSON:
        return _REFUSED
    try:
        return lane.body.model_validate(strict_json.loads(body))
    except (strict_json.MalformedJson, ValidationError):
        return _REFUSED


def _target_ok(scope: Scope) -> bool:
    try:
        check_target(scope)
    except Rejected:
        return False
    return True


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The body, and the message that cut it short (a disconnect), if one did."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, last: Message | None, receive: Receive) -> Receive:
    """What was read, as it came (the body, then a disconnect if one came), then the rest."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": last is not None}]
    if last is not None:
        pending.append(last)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
