"""HTTP routes of data-subject requests (issue 15 §3).

    POST /v1/pii/subjects/export  {"card_number": "...", "reason": "..."}   pii:reveal
    POST /v1/pii/subjects/erase   {"id_number": "...", "reason": "..."}     admin + pii:reveal

Exactly one of card_number, id_number, phone, account_number. 403 `forbidden` without the
scope(s) (erasure also needs a platform key), 422 `reveal_reason_required` without a
reason of 10-500 characters, 422 `invalid_lookup_value` for a malformed number, 404
`subject_not_found` when an export finds nothing, 409 `subject_refund_pending` when
paycore still owes the payer money. Both answers are marked not to be stored by caches.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field

from paycore.security.api import require
from paycore.security.model import Principal, Scope
from paycore.security.subjects import Subjects
from paycore.web import request_id
from paycore.web.bodies import JsonRoute, StrictBody

router = APIRouter(prefix="/v1/pii/subjects", tags=["personal data"], route_class=JsonRoute)

Revealer = Annotated[Principal, Depends(require(Scope.PII_REVEAL))]
_NO_STORE = {"Cache-Control": "no-store"}


async def get_subjects(request: Request) -> Subjects:
    subjects: Subjects = request.app.state.subjects
    return subjects


SubjectsDep = Annotated[Subjects, Depends(get_subjects)]


class SubjectIn(StrictBody):
    card_number: str | None = Field(default=None, max_length=64)
    id_number: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=64)
    account_number: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(
        default=None, description="why: 10-500 characters, audited", max_length=2000
    )

    def numbers(self) -> dict[str, str | None]:
        return {
            "card_number": self.card_number,
            "id_number": self.id_number,
            "phone": self.phone,
            "account_number": self.account_number,
        }


@router.post("/export")
async def export_subject(
    body: SubjectIn, subjects: SubjectsDep, principal: Revealer
) -> JSONResponse:
    """Everything paycore holds on the payer with this number (a merchant: its own)."""
    document = await run_in_threadpool(
        subjects.export,
        principal,
        numbers=body.numbers(),
        reason=body.reason,
        request_id=request_id.current.get(),
    )
    return JSONResponse(document, headers=_NO_STORE)


@router.post("/erase")
async def erase_subject(
    body: SubjectIn, subjects: SubjectsDep, principal: Revealer
) -> JSONResponse:
    """Crypto-shred the payer's data; amounts, statuses and the ledger stay."""
    erased = await run_in_threadpool(
        subjects.erase,
        principal,
        numbers=body.numbers(),
        reason=body.reason,
        request_id=request_id.current.get(),
    )
    view = {
        "objects": erased.objects,
        "subjects_shredded": erased.subjects_shredded,
        "index_rows_removed": erased.index_rows_removed,
        "audit_seq": erased.audit_seq,
    }
    return JSONResponse(view, headers=_NO_STORE)
