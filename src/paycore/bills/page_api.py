"""HTTP routes of the plain-language bill: the same month as an HTML page, a PDF and JSON.
A merchant's key sees its own bills only (another merchant's is 404, as if it did not
exist); a platform key sees every merchant's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from paycore.bills.admission import RESPONSES, admit
from paycore.bills.page import BillView
from paycore.bills.page_service import BillPages, render_html
from paycore.bills.pdf import render_pdf
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

Reader = Annotated[Principal, Depends(require("payments:read"))]
Lang = Annotated[str, Query(pattern="^(zh|en)$", description="zh (default) or en")]
Owner = Annotated[str | None, Query(max_length=32, description="one wallet owner's bill")]


def _pages(request: Request) -> BillPages:
    runtime = request.app.state.runtime
    return BillPages(runtime.bills, runtime.merchants)


async def _view(
    request: Request, principal: Principal, merchant: str, month: str, lang: str, owner: str | None
) -> BillView:
    require_visible(
        principal, merchant, code="merchant_not_found", detail=f"no merchant {merchant}"
    )
    pages = _pages(request)
    return await run_in_threadpool(pages.view, merchant, month, owner_id=owner, lang=lang)


@router.get("/bills/{merchant}/{month}.html", response_class=HTMLResponse)
async def bill_html(
    request: Request,
    merchant: str,
    month: str,
    principal: Reader,
    lang: Lang = "zh",
    owner: Owner = None,
) -> HTMLResponse:
    """The month's bill as one page a shop owner reads (charts inline)."""
    view = await _view(request, principal, merchant, month, lang, owner)
    return HTMLResponse(await run_in_threadpool(render_html, view))


@router.get(
    "/bills/{merchant}/{month}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def bill_pdf(
    request: Request,
    merchant: str,
    month: str,
    principal: Reader,
    lang: Lang = "zh",
    owner: Owner = None,
) -> Response:
    """The same page as a PDF."""
    view = await _view(request, principal, merchant, month, lang, owner)
    pdf = await run_in_threadpool(lambda: render_pdf(render_html(view)))
    name = f"bill-{merchant}-{view.month}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


@router.get("/bills/{merchant}/{month}.json")
async def bill_json(
    request: Request,
    merchant: str,
    month: str,
    principal: Reader,
    lang: Lang = "zh",
    owner: Owner = None,
) -> dict[str, Any]:
    """The page's content as data: money as integer minor units beside its text."""
    view = await _view(request, principal, merchant, month, lang, owner)
    return view.to_json()
