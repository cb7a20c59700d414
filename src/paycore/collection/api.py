"""HTTP routes of the collection slice: plans, their schedule, pause/resume/cancel, run-due."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from paycore.collection.model import (
    ATTEMPTS_DEFAULT,
    RETRY_INTERVAL_S_DEFAULT,
    Method,
    Terms,
    parse_due_day,
    parse_month,
)
from paycore.collection.service import PLANS_PAGE_MAX, Collections
from paycore.collection.views import line_view, plan_view, report_view
from paycore.security.api import merchant_of, require, require_platform
from paycore.security.model import Principal
from paycore.wallets.model import OWNER_PATTERN
from paycore.web.bodies import JsonRoute, StrictBody

router = APIRouter(prefix="/v1/collection-plans", tags=["collection"], route_class=JsonRoute)


async def get_collections(request: Request) -> Collections:
    collections: Collections = request.app.state.runtime.collection
    return collections


CollectionsDep = Annotated[Collections, Depends(get_collections)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Writer = Annotated[Principal, Depends(require("payments:write"))]
Owner = Annotated[
    str, Field(min_length=1, max_length=32, json_schema_extra={"pattern": OWNER_PATTERN})
]


class PlanIn(StrictBody):
    tenant: Owner
    landlord: Owner
    amount: Annotated[int, Field(strict=True, gt=0)]
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    due_day: Annotated[int | Literal["last"], Field(union_mode="left_to_right")]
    start_month: Annotated[str, Field(min_length=7, max_length=7)]
    periods: Annotated[int | None, Field(strict=True)] = None
    method: Method
    fee_bps: Annotated[int | None, Field(strict=True)] = None
    fee_fixed: Annotated[int | None, Field(strict=True)] = None
    card_number: Annotated[str | None, Field(max_length=19)] = None
    max_attempts: Annotated[int, Field(strict=True)] = ATTEMPTS_DEFAULT
    retry_interval_s: Annotated[int, Field(strict=True)] = RETRY_INTERVAL_S_DEFAULT
    reference: Annotated[str | None, Field(max_length=64)] = None
    merchant_id: str | None = None

    def terms(self) -> Terms:
        return Terms(
            tenant=self.tenant,
            landlord=self.landlord,
            amount=self.amount,
            currency=self.currency,
            due_day=parse_due_day(self.due_day),
            start_month=parse_month(self.start_month),
            periods=self.periods,
            method=self.method,
            fee_bps=self.fee_bps,
            fee_fixed=self.fee_fixed,
            max_attempts=self.max_attempts,
            retry_interval_s=self.retry_interval_s,
        )


@router.post("", status_code=201)
async def create_plan(
    body: PlanIn, collections: CollectionsDep, principal: Writer
) -> dict[str, Any]:
    merchant = merchant_of(principal, body.merchant_id)
    terms = body.terms()
    plan = await run_in_threadpool(
        lambda: collections.create(
            merchant, terms, card_number=body.card_number, reference=body.reference
        )
    )
    return plan_view(plan)


@router.get("")
def list_plans(
    collections: CollectionsDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=PLANS_PAGE_MAX)] = 50,
    after: str | None = None,
) -> dict[str, Any]:
    plans = collections.list_plans(principal.merchant_id, limit=limit, after=after)
    return {
        "data": [plan_view(p) for p in plans],
        "next_cursor": plans[-1].id if len(plans) == limit else None,
    }


@router.post("/run-due")
async def run_due(collections: CollectionsDep, principal: Writer) -> dict[str, Any]:
    """Collect what is due now (the flows worker does this every few seconds)."""
    require_platform(principal)
    return report_view(await run_in_threadpool(collections.run_due))


@router.get("/{plan_id}")
def get_plan(plan_id: str, collections: CollectionsDep, principal: Reader) -> dict[str, Any]:
    plan = collections.get(principal.merchant_id, plan_id)
    return {**plan_view(plan), "schedule": [line_view(x) for x in collections.schedule(plan)]}


@router.post("/{plan_id}/{action}")
async def act_on_plan(
    plan_id: str,
    action: Literal["pause", "resume", "cancel"],
    collections: CollectionsDep,
    principal: Writer,
) -> dict[str, Any]:
    do = {"pause": collections.pause, "resume": collections.resume, "cancel": collections.cancel}
    plan = await run_in_threadpool(do[action], principal.merchant_id, plan_id)
    return plan_view(plan)
