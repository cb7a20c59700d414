"""HTTP routes of the bills slice: statements of a month or a day, the transfers behind
each line, and a month as sealed. A merchant's key sees its own merchant only (another's is
404, as if it did not exist); a platform key sees every merchant's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from paycore.bills.admission import RESPONSES, admit
from paycore.bills.service import LINE_PAGE_MAX
from paycore.bills.views import plain, statement_view
from paycore.bills.workers import BillReader, BillWorkers
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


async def get_workers(request: Request) -> BillWorkers:
    workers: BillWorkers = request.app.state.runtime.bill_workers
    return workers


Workers = Annotated[BillWorkers, Depends(get_workers)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Owner = Annotated[str | None, Query(max_length=64, description="one wallet owner's statement")]


def _visible(principal: Principal, merchant: str) -> None:
    require_visible(
        principal, merchant, code="merchant_not_found", detail=f"no merchant {merchant}"
    )


@router.get("/bills/{merchant}/statements/{period}")
async def get_statement(
    merchant: str, period: str, workers: Workers, principal: Reader, owner_id: Owner = None
) -> dict[str, Any]:
    """A month (YYYY-MM) or day (YYYY-MM-DD) statement in China Standard Time: per account
    opening, lines by category (pay-ins by product and channel), closing, on hold."""
    _visible(principal, merchant)
    return await workers.run(statement_work, merchant, period, owner_id)


@router.get("/bills/{merchant}/statements/{period}/lines/{account_id}/{category}")
async def get_line_transfers(
    merchant: str,
    period: str,
    account_id: str,
    category: str,
    workers: Workers,
    principal: Reader,
    product: Annotated[str, Query(max_length=32)] = "",
    channel: Annotated[str, Query(max_length=24)] = "",
    after: Annotated[int | None, Query(ge=0, description="next_after of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=LINE_PAGE_MAX)] = 50,
) -> dict[str, Any]:
    """The transfers (and orders) behind one statement line, in journal order."""
    _visible(principal, merchant)
    return await workers.run(
        line_transfers_work,
        merchant,
        period,
        account_id,
        category,
        product,
        channel,
        after,
        limit,
    )


@router.get("/bills/{merchant}/{month}/statement")
async def get_month_statement(
    merchant: str, month: str, workers: Workers, principal: Reader
) -> dict[str, Any]:
    """A month as sealed (its lines, hash and the previous month's hash), or as the journal
    says so far if it is not sealed yet; `as_of` says how fresh."""
    _visible(principal, merchant)
    return await workers.run(month_statement_work, merchant, month)


# The work itself, run by a bill worker (workers.py): module functions returning plain data.


def statement_work(
    reader: BillReader, merchant: str, period: str, owner_id: str | None
) -> dict[str, Any]:
    return statement_view(reader.bills.statement(merchant, period, owner_id))


def line_transfers_work(reader: BillReader, *args: Any) -> dict[str, Any]:
    result: dict[str, Any] = plain(reader.bills.line_transfers(*args))
    return result


def month_statement_work(reader: BillReader, merchant: str, month: str) -> dict[str, Any]:
    result: dict[str, Any] = plain(reader.bills.month_statement(merchant, month))
    return result
