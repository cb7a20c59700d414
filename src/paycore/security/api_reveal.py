"""HTTP routes that reveal clear personal data: `pii:reveal` and a reason, audited.

    POST /v1/payins/{payin_id}/reveal    {"reason": "...", "fields": ["card_number"]}
    POST /v1/payouts/{payout_id}/reveal  {"reason": "..."}
    POST /v1/pii/reveal                  {"object_type": "payin", "object_id": "...", ...}

403 `forbidden` without the scope (`admin` does not imply it), 422
`reveal_reason_required` without a reason of 10-500 characters, 404 for another merchant's
object as for a missing one. The answer holds the clear values and the audit record's seq;
it is marked not to be stored by caches.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field

from paycore.security.api import require
from paycore.security.audit import FIELDS_MAX
from paycore.security.model import Principal, Scope
from paycore.security.reveal import Revealed, Reveals
from paycore.web import request_id
from paycore.web.bodies import JsonRoute, StrictBody

router = APIRouter(prefix="/v1", tags=["personal data"], route_class=JsonRoute)

Revealer = Annotated[Principal, Depends(require(Scope.PII_REVEAL))]
FieldNames = Annotated[
    list[Annotated[str, Field(max_length=64)]] | None, Field(max_length=FIELDS_MAX)
]


async def get_reveals(request: Request) -> Reveals:
    reveals: Reveals = request.app.state.reveals
    return reveals


RevealsDep = Annotated[Reveals, Depends(get_reveals)]


class RevealIn(StrictBody):
    reason: str | None = Field(
        default=None, description="why the clear values are needed: 10-500 characters, audited"
    )
    fields: FieldNames = Field(default=None, description="which fields; all when omitted")


class PiiRevealIn(RevealIn):
    object_type: str = Field(max_length=32, description="`payin` or `payout`")
    object_id: str = Field(max_length=64)


@router.post("/payins/{payin_id}/reveal")
async def reveal_payin(
    payin_id: str, body: RevealIn, reveals: RevealsDep, principal: Revealer
) -> JSONResponse:
    """The payer's clear card number, name, ID number and phone."""
    return await _reveal(reveals, principal, "payin", payin_id, body)


@router.post("/payouts/{payout_id}/reveal")
async def reveal_payout(
    payout_id: str, body: RevealIn, reveals: RevealsDep, principal: Revealer
) -> JSONResponse:
    """The beneficiary's clear account number and name."""
    return await _reveal(reveals, principal, "payout", payout_id, body)


@router.post("/pii/reveal")
async def reveal_object(
    body: PiiRevealIn, reveals: RevealsDep, principal: Revealer
) -> JSONResponse:
    """The clear personal data of any object type paycore can reveal."""
    return await _reveal(reveals, principal, body.object_type, body.object_id, body)


async def _reveal(
    reveals: Reveals, principal: Principal, object_type: str, object_id: str, body: RevealIn
) -> JSONResponse:
    revealed = await run_in_threadpool(
        reveals.reveal,
        principal,
        object_type=object_type,
        object_id=object_id,
        fields=body.fields,
        reason=body.reason,
        request_id=request_id.current.get(),
    )
    return JSONResponse(_view(revealed), headers={"Cache-Control": "no-store"})


def _view(revealed: Revealed) -> dict[str, Any]:
    return {
        "object_type": revealed.object_type,
        "object_id": revealed.object_id,
        "fields": dict(revealed.fields),
        "audit_seq": revealed.audit_seq,
    }
