"""`POST /v1/pii/lookup`: which objects hold a personal number, without decrypting.

POST, not GET: a number in a query string lands in access logs, proxies' logs and
browser history. The log redaction masks plain numbers in paths and queries, but not
every way a client may encode one (`6222+0212+...`, `%20`-grouped digits), and a body is
never logged. The answer names objects (type, id, merchant) and never a number.

Who sees what: a platform key needs the admin scope and sees every merchant's objects; a
merchant key needs `payments:read` and sees its own merchant's objects only (another
merchant's are left out, exactly as if the number were unknown).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from paycore.errors import Rejected
from paycore.security.api import require
from paycore.security.blind_service import BlindIndex
from paycore.security.model import Principal
from paycore.web.blocking import run_blocking
from paycore.web.bodies import JsonRoute, StrictBody

router = APIRouter(prefix="/v1/pii", tags=["security"], route_class=JsonRoute)


async def get_blind_index(request: Request) -> BlindIndex:
    blind: BlindIndex = request.app.state.blind_index
    return blind


class LookupBody(StrictBody):
    """Exactly one number; written as a person typed it (spaces, +86, lower-case x)."""

    card_number: str | None = Field(default=None, max_length=40)
    id_number: str | None = Field(default=None, max_length=40)
    phone: str | None = Field(default=None, max_length=40)
    account_number: str | None = Field(default=None, max_length=60)


@router.post("/lookup")
async def lookup(
    body: LookupBody,
    blind: Annotated[BlindIndex, Depends(get_blind_index)],
    principal: Annotated[Principal, Depends(require("payments:read"))],
) -> dict[str, Any]:
    if principal.merchant_id is None and not principal.is_admin:
        raise Rejected("forbidden", "a platform key needs the admin scope to look numbers up")
    numbers = body.model_dump()
    hits = await run_blocking(blind.find_any, numbers, merchant_id=principal.merchant_id)
    return {
        "data": [
            {"object_type": h.object_type, "object_id": h.object_id, "merchant_id": h.merchant_id}
            for h in hits
        ]
    }
