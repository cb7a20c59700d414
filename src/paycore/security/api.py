"""Who is calling: `Authorization: Bearer pk_...` to a Principal, scopes to 403, and the
404-not-403 rule for other merchants' objects.

    @router.get("/things/{id}")
    def get_thing(id: str, principal: Annotated[Principal, Depends(require(Scope.X))]):
        thing = ...
        require_visible(principal, thing.merchant_id, code="thing_not_found", detail=...)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from paycore.errors import Rejected
from paycore.security.model import Principal, Scope, Unauthenticated
from paycore.security.service import ApiKeys
from paycore.web.problems import problem

__all__ = [
    "Principal",
    "Scope",
    "authenticated",
    "on_unauthenticated",
    "owner_filter",
    "require",
    "require_platform",
    "require_visible",
]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer pk_<key id>_<secret>`",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def authenticated(request: Request, credentials: BearerCredentials) -> Principal:
    """The caller's principal, whatever its scopes; 401 without a valid key."""
    if credentials is None:
        raise Unauthenticated("send Authorization: Bearer <API key>")
    api_keys: ApiKeys = request.app.state.api_keys
    presented = credentials.credentials
    # A cache hit stays on the event loop; a miss reads the database in the thread pool.
    principal = api_keys.cached(presented)
    if principal is None:
        principal = await run_in_threadpool(api_keys.authenticate, presented)
    return principal


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's principal if its key carries `scope` (or admin);
    401 `unauthenticated` without a valid key, 403 `forbidden` without the scope."""
    if scope not in {s.value for s in Scope}:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(
        principal: Annotated[Principal, Depends(authenticated)],
    ) -> Principal:
        if not principal.can(scope):
            raise Rejected("forbidden", f"this API key lacks the {scope} scope")
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def owner_filter(principal: Principal) -> str | None:
    """The owner a query must be restricted to: the merchant of a merchant key, or None
    (no restriction) for a platform key."""
    return principal.merchant_id


def require_visible(principal: Principal, owner_id: str | None, *, code: str, detail: str) -> None:
    """Refuse an object of another merchant exactly as a missing one (`code`, mapped to
    404): a merchant cannot probe which ids exist."""
    if not principal.sees(owner_id):
        raise Rejected(code, detail)


def merchant_of(principal: Principal, merchant_id: str | None) -> str:
    """The merchant a request acts for: its own key's, or the one a platform key names."""
    if principal.merchant_id is not None:
        return principal.merchant_id
    if not merchant_id:
        raise Rejected("merchant_required", "a platform key names the merchant (merchant_id)")
    return merchant_id


def require_platform(principal: Principal) -> None:
    """Platform-wide views (e.g. the ledger self-check) are not for merchant keys."""
    if principal.merchant_id is not None:
        raise Rejected("forbidden", "only a platform key sees this")


async def on_unauthenticated(_request: Request, exc: Exception) -> JSONResponse:
    detail = exc.detail if isinstance(exc, Rejected) else "unauthenticated"
    response = problem(401, "unauthenticated", detail)
    response.headers["WWW-Authenticate"] = 'Bearer realm="paycore"'
    return response
