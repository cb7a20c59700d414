"""`GET /v1/checks/flows`: every flow's records against the ledger, for the platform.

The same check the ledger's scheduled self-check records (`POST /v1/ledger/checks`); this
one answers with each disagreement's fields instead of a line of text.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from paycore.consistency.service import FlowCheck
from paycore.security.api import require, require_platform
from paycore.security.model import Principal, Scope
from paycore.web.bodies import JsonRoute

router = APIRouter(prefix="/v1", tags=["checks"], route_class=JsonRoute)

Reader = Annotated[Principal, Depends(require(Scope.LEDGER_READ))]


class DisagreementOut(BaseModel):
    code: str
    subject_id: str
    transfer_id: str
    detail: str


class FlowCheckOut(BaseModel):
    ok: bool
    found: int
    disagreements: list[DisagreementOut]


@router.get("/checks/flows", response_model=FlowCheckOut)
async def check_flows(request: Request, principal: Reader) -> FlowCheckOut:
    """Each payout, refund, pay-in, split, custody receipt, collection attempt and reward
    row whose ledger transfers say otherwise (at most the first 1,000, all counted)."""
    require_platform(principal)
    runtime = request.app.state.runtime
    report = await run_in_threadpool(FlowCheck(runtime.engine, runtime.clock).run)
    return FlowCheckOut(
        ok=report.ok,
        found=report.found,
        disagreements=[
            DisagreementOut(
                code=d.code, subject_id=d.subject_id, transfer_id=d.transfer_id, detail=d.detail
            )
            for d in report.disagreements
        ],
    )
