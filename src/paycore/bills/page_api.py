"""HTTP routes of the plain-language bill: the same month as an HTML page, a PDF and JSON.
A merchant's key sees its own bills only (another merchant's is 404, as if it did not
exist); a platform key sees every merchant's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from paycore.bills.admission import RESPONSES, admit
from paycore.bills.page import BillView
from paycore.bills.page_service import BillPages, render_html
from paycore.bills.pdf import render_pdf
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

Reader = Annotated[Principal, Depends(require("payments:read"))]
Lang = Annotated[str, Query(pattern="^(zh|en)$", description="zh (default) or en")]
Owner = Annotated[str | None, Query(max_length=32, description="one wallet owner's bill")]


async def _run(
    request: Request,
    principal: Principal,
    work: Any,
    merchant: str,
    month: str,
    lang: str,
    owner: str | None,
) -> Any:
    require_visible(
        principal, merchant, code="merchant_not_found", detail=f"no merchant {merchant}"
    )
    workers: BillWorkers = request.app.state.runtime.bill_workers
    return await workers.run(work, merchant, month, lang, owner)


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
    return HTMLResponse(await _run(request, principal, html_work, merchant, month, lang, owner))


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
    pdf, shown = await _run(request, principal, pdf_work, merchant, month, lang, owner)
    name = f"bill-{merchant}-{shown}.pdf"
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
    result: dict[str, Any] = await _run(request, principal, json_work, merchant, month, lang, owner)
    return result


# The work itself, run by a bill worker (workers.py): module functions returning plain data.


def _view(reader: BillReader, merchant: str, month: str, lang: str, owner: str | None) -> BillView:
    pages = BillPages(reader.bills, reader.merchants)
    return pages.view(merchant, month, owner_id=owner, lang=lang)


def html_work(reader: BillReader, merchant: str, month: str, lang: str, owner: str | None) -> str:
    return render_html(_view(reader, merchant, month, lang, owner))


def pdf_work(
    reader: BillReader, merchant: str, month: str, lang: str, owner: str | None
) -> tuple[bytes, str]:
    """The PDF and the month it shows (for its file name)."""
    view = _view(reader, merchant, month, lang, owner)
    return render_pdf(render_html(view)), view.month


def json_work(
    reader: BillReader, merchant: str, month: str, lang: str, owner: str | None
) -> dict[str, Any]:
    return _view(reader, merchant, month, lang, owner).to_json()
