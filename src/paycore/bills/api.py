"""HTTP routes of the bills slice: statements of a month or a day, the transfers behind
each line, and a month as sealed. A merchant's key sees its own merchant only (another's is
404, as if it did not exist); a platform key sees every merchant's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from paycore.bills.admission import RESPONSES, admit
from paycore.bills.service import LINE_PAGE_MAX, Bills
from paycore.bills.views import plain, statement_view
from paycore.security.api import require, require_visible
from paycore.security.model import Principal
from paycore.web.bodies import JsonRoute

router = APIRouter(
    prefix="/v1",
    tags=["bills"],
    route_class=JsonRoute,
    dependencies=[Depends(admit)],
    responses=RESPONSES,
)


async def get_bills(request: Request) -> Bills:
    bills: Bills = request.app.state.runtime.bills
    return bills


BillsDep = Annotated[Bills, Depends(get_bills)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Owner = Annotated[str | None, Query(max_length=64, description="one wallet owner's statement")]


def _visible(principal: Principal, merchant: str) -> None:
    require_visible(
        principal, merchant, code="merchant_not_found", detail=f"no merchant {merchant}"
    )


@router.get("/bills/{merchant}/statements/{period}")
async def get_statement(
    merchant: str, period: str, bills: BillsDep, principal: Reader, owner_id: Owner = None
) -> dict[str, Any]:
    """A month (YYYY-MM) or day (YYYY-MM-DD) statement in China Standard Time: per account
    opening, lines by category (pay-ins by product and channel), closing, on hold."""
    _visible(principal, merchant)
    statement = await run_in_threadpool(bills.statement, merchant, period, owner_id)
    return statement_view(statement)


@router.get("/bills/{merchant}/statements/{period}/lines/{account_id}/{category}")
async def get_line_transfers(
    merchant: str,
    period: str,
    account_id: str,
    category: str,
    bills: BillsDep,
    principal: Reader,
    product: Annotated[str, Query(max_length=32)] = "",
    channel: Annotated[str, Query(max_length=24)] = "",
    after: Annotated[int | None, Query(ge=0, description="next_after of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=LINE_PAGE_MAX)] = 50,
) -> dict[str, Any]:
    """The transfers (and orders) behind one statement line, in journal order."""
    _visible(principal, merchant)
    page = await run_in_threadpool(
        bills.line_transfers,
        merchant,
        period,
        account_id,
        category,
        product,
        channel,
        after,
        limit,
    )
    result: dict[str, Any] = plain(page)
    return result


@router.get("/bills/{merchant}/{month}/statement")
async def get_month_statement(
    merchant: str, month: str, bills: BillsDep, principal: Reader
) -> dict[str, Any]:
    """A month as sealed (its lines, hash and the previous month's hash), or as the journal
    says so far if it is not sealed yet; `as_of` says how fresh."""
    _visible(principal, merchant)
    result: dict[str, Any] = plain(await run_in_threadpool(bills.month_statement, merchant, month))
    return result
