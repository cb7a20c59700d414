"""The bills' front: admission decided before the router, so a bill turned away costs the
server a regex and a dictionary lookup, not a trip through FastAPI.

In a storm most bill requests are refusals (200 readers arrive within a second; a few
bills run at a time). Through the router each cost what a /healthz costs (~1 ms of the
event loop: matching ~90 routes, solving dependencies, an exception handler), and that
second of arrivals is when the pay-ins' p99 moved. Here, for a GET that the router would
send to a route guarded by `admission.admit`, from a key this process authenticated
lately (`ApiKeys.cached`, no database):
- refused: answered here with the same problem, status and Retry-After as the route's;
- admitted: the ticket rides in the ASGI scope and `admit` takes it instead of entering
  a second time (if the route never gets to `admit`, the slot is freed here).
Anything else (another method or path, an unknown or uncached key) goes on untouched,
so every answer is still the route's own when this cannot be sure of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from paycore.bills import admission as bills_admission
from paycore.bills.admission import PLATFORM, Admission, BillsRefused
from paycore.security.model import Principal
from paycore.security.service import ApiKeys
from paycore.web.problems import problem

PREFIX = "/v1/bills/"
TICKET = "paycore.bills.ticket"
"""The ASGI scope key of an admission decided here."""


@dataclass(slots=True)
class Ticket:
    merchant: str
    started_s: float
    taken: bool = False
    """Set by `admit`, which then frees the slot itself."""


class BillsFront:
    """Plain ASGI in front of the router (inside the app's middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[tuple[APIRoute, bool]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        merchant = self._merchant(scope) if path.startswith(PREFIX) else None
        if merchant is None:
            await self.app(scope, receive, send)
            return
        admission: Admission = scope["app"].state.runtime.bills_admission
        try:
            started_s = admission.enter(merchant)
        except BillsRefused as refusal:
            response = problem(refusal.status, refusal.code, refusal.detail)
            response.headers["Retry-After"] = str(refusal.retry_after_s)
            await response(scope, receive, send)
            return
        ticket = Ticket(merchant, started_s)
        scope[TICKET] = ticket
        try:
            await self.app(scope, receive, send)
        finally:
            if not ticket.taken:
                admission.leave(merchant, started_s)

    def _merchant(self, scope: Scope) -> str | None:
        """Whose limits the request spends (as `admission.merchant_of`), or None to leave
        it to the router."""
        params = self._guarded_params(scope)
        if params is None:
            return None
        principal = _cached_principal(scope)
        if principal is None:
            return None
        if principal.merchant_id is not None:
            return principal.merchant_id
        named = params.get("merchant") or _query_merchant(scope)
        return str(named) if named else PLATFORM

    def _guarded_params(self, scope: Scope) -> dict[str, Any] | None:
        """The path parameters if the route the router would pick is behind `admit`."""
        for route, guarded in self._bill_routes(scope):
            found, child = route.matches(scope)
            if found is Match.FULL:
                return dict(child["path_params"]) if guarded else None
        return None

    def _bill_routes(self, scope: Scope) -> list[tuple[APIRoute, bool]]:
        # Read at the first request: routers are included after `install` put this here.
        if self._routes is None:
            self._routes = [
                (route, any(d.dependency is bills_admission.admit for d in route.dependencies))
                for route in scope["app"].router.routes
                if isinstance(route, APIRoute) and route.path.startswith(PREFIX)
            ]
        return self._routes


def _cached_principal(scope: Scope) -> Principal | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            # As HTTPBearer reads it, so the cache is asked about exactly the same string.
            scheme, credentials = get_authorization_scheme_param(value.decode("latin-1"))
            if scheme.lower() != "bearer" or not credentials:
                return None
            api_keys: ApiKeys = scope["app"].state.api_keys
            return api_keys.cached(credentials)
    return None


def _query_merchant(scope: Scope) -> str | None:
    from urllib.parse import parse_qs

    query: bytes = scope.get("query_string", b"")
    if b"merchant_id=" not in query:
        return None
    found = parse_qs(query.decode("latin-1")).get("merchant_id")
    return found[-1] if found else None  # the last, as Starlette's query_params


def taken(scope: Scope) -> Ticket | None:
    """The front's admission of this request, now the caller's to free (or None)."""
    ticket = scope.get(TICKET)
    if not isinstance(ticket, Ticket) or ticket.taken:
        return None
    ticket.taken = True
    return ticket
