"""GET /v1/ops/reports/weekly/{week}.md | .html | .json: the weekly report (admin keys only),
the same text `paycore report weekly` writes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from paycore.ops.report import WeeklyReports, reports_of
from paycore.security.api import require
from paycore.security.model import Principal
from paycore.web.bodies import JsonRoute

router = APIRouter(prefix="/v1/ops", tags=["ops"], route_class=JsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
Lang = Annotated[str, Query(pattern="^(zh|en)$", description="zh (default) or en")]
MARKDOWN = "text/markdown; charset=utf-8"


def _reports(request: Request) -> WeeklyReports:
    return reports_of(request.app.state.runtime)


Reports = Annotated[WeeklyReports, Depends(_reports)]


@router.get(
    "/reports/weekly/{week}.md",
    response_class=PlainTextResponse,
    responses={200: {"content": {MARKDOWN: {}}}},
)
def weekly_markdown(
    week: str, reports: Reports, _admin: Admin, lang: Lang = "zh"
) -> PlainTextResponse:
    """The seed's 【系统运行数据】 section for an ISO week (2026-W49), in Markdown."""
    return PlainTextResponse(reports.page(week, form="md", lang=lang), media_type=MARKDOWN)


@router.get("/reports/weekly/{week}.html", response_class=HTMLResponse)
def weekly_html(week: str, reports: Reports, _admin: Admin, lang: Lang = "zh") -> HTMLResponse:
    """The same as one self-contained page, with the week's charts inline (SVG)."""
    return HTMLResponse(reports.page(week, form="html", lang=lang))


@router.get("/reports/weekly/{week}.json")
def weekly_json(week: str, reports: Reports, _admin: Admin, lang: Lang = "zh") -> dict[str, Any]:
    """The report as data: exact counts beside every rate's text (rounded down)."""
    return reports.view(week, lang=lang)
