"""HTTP routes of bill queries and exports: pages of a merchant's orders, transfers and
statement lines; small exports streamed at once; large ones as jobs with an expiring link.

A merchant key sees its own merchant only: another merchant's path is 404, exactly as a
merchant that does not exist. Every route that reads the database takes `admit` (the
per-merchant limits of the month-end load).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from paycore.bills.admission import RESPONSES, admit
from paycore.bills.export_jobs import EXPORT_POLL_S, ExportJobs, chunks_of
from paycore.bills.exports import MEDIA_TYPES, Format, csv_chunks, write_xlsx
from paycore.bills.queries import COLUMNS, BillQueries, Filters, What, filters_of
from paycore.errors import Rejected
from paycore.security.api import require, require_visible
from paycore.security.model import Principal
from paycore.web.bodies import JsonRoute, StrictBody
from paycore.web.problems import problem

router = APIRouter(prefix="/v1", tags=["bills"], route_class=JsonRoute)

EXPORT_SYNC_ROWS_MAX = 100_000
"""Rows a streamed export (`orders.csv`) may hold; a larger one is a job (POST exports)."""

Reader = Annotated[Principal, Depends(require("payments:read"))]
Text = Annotated[str | None, Query(max_length=64)]
_STATUS = {"export_link_expired": 410, "export_expired": 410, "export_too_large": 413}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def _queries(request: Request) -> BillQueries:
    return BillQueries(request.app.state.runtime.bills)


def _jobs(request: Request) -> ExportJobs:
    """The runtime's export jobs, or ones built over its services once per app."""
    state = request.app.state
    jobs = getattr(state.runtime, "bill_exports", None) or getattr(state, "bill_exports", None)
    if not isinstance(jobs, ExportJobs):
        jobs = ExportJobs.for_runtime(state.runtime)
        state.bill_exports = jobs
    return jobs


Queries = Annotated[BillQueries, Depends(_queries)]
Jobs = Annotated[ExportJobs, Depends(_jobs)]


def _visible(principal: Principal, merchant: str) -> str:
    require_visible(
        principal, merchant, code="merchant_not_found", detail=f"no merchant {merchant}"
    )
    return merchant


def _refusal(refused: Rejected) -> JSONResponse:
    response = problem(_STATUS.get(refused.code, 422), refused.code, refused.detail)
    if refused.code == "too_many_exports":
        response.status_code = 429
        response.headers["Retry-After"] = str(int(EXPORT_POLL_S * 30))
    return response


class FilterArgs:
    """The filters every query and export takes, as query parameters."""

    def __init__(
        self,
        month: Text = None,
        day: Text = None,
        date_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
        date_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
        product: Text = None,
        channel: Text = None,
        status: Text = None,
        counterparty: Text = None,
        kind: Text = None,
        owner: Text = None,
    ) -> None:
        self.args = {
            "month": month,
            "day": day,
            "from": date_from,
            "to": date_to,
            "product": product,
            "channel": channel,
            "status": status,
            "counterparty": counterparty,
            "kind": kind,
            "owner": owner,
        }

    def filters(self) -> Filters:
        return filters_of(self.args)


Args = Annotated[FilterArgs, Depends()]


def _page_route(what: What) -> None:
    @router.get(
        f"/bills/{{merchant}}/{what.value}", dependencies=[Depends(admit)], responses=RESPONSES
    )
    def page(
        merchant: str,
        principal: Reader,
        queries: Queries,
        args: Args,
        after: Annotated[str | None, Query(max_length=1024)] = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        found = queries.page(
            what, _visible(principal, merchant), args.filters(), after=after, limit=limit
        )
        return {"data": found.rows, "next_cursor": found.next_cursor}

    page.__name__ = f"bill_{what.value}"


def _file_route(what: What, fmt: Format) -> None:
    @router.get(
        f"/bills/{{merchant}}/{what.value}.{fmt.value}",
        dependencies=[Depends(admit)],
        response_class=Response,
        responses={**RESPONSES, 200: {"content": {MEDIA_TYPES[fmt]: {}}}},
    )
    async def export(merchant: str, principal: Reader, queries: Queries, args: Args) -> Response:
        merchant_id = _visible(principal, merchant)
        filters = args.filters()
        total = await run_in_threadpool(
            queries.count, what, merchant_id, filters, cap=EXPORT_SYNC_ROWS_MAX
        )
        if total > EXPORT_SYNC_ROWS_MAX:
            return _refusal(
                Rejected(
                    "export_too_large",
                    f"more than {EXPORT_SYNC_ROWS_MAX} rows: POST /v1/bills/{merchant}/exports",
                )
            )
        name = _file_name(merchant_id, what, filters, fmt)
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        rows = queries.rows(what, merchant_id, filters)
        if fmt is Format.CSV:
            # A sync iterator: Starlette pulls each chunk in a worker thread.
            body = csv_chunks(rows, COLUMNS[what])
            return StreamingResponse(body, media_type=MEDIA_TYPES[fmt], headers=headers)
        path = await run_in_threadpool(_xlsx_file, rows, what)
        return StreamingResponse(
            chunks_of(path),
            media_type=MEDIA_TYPES[fmt],
            headers=headers,
            background=BackgroundTask(path.unlink, missing_ok=True),
        )

    export.__name__ = f"bill_{what.value}_{fmt.value}"


def _xlsx_file(rows: Iterator[dict[str, Any]], what: What) -> Path:
    """An XLSX is a zip: it can be sent only once it is whole, so it is written to a
    temporary file (row by row, constant memory) and streamed from there."""
    descriptor, name = tempfile.mkstemp(prefix="paycore-bill-", suffix=".xlsx")
    os.close(descriptor)
    path = Path(name)
    try:
        write_xlsx(rows, COLUMNS[what], path, sheet=what.value)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _file_name(merchant_id: str, what: What, filters: Filters, fmt: Format) -> str:
    period = filters.period.label if filters.period is not None else "all"
    return _SAFE_NAME.sub("_", f"{merchant_id}-{what.value}-{period}") + f".{fmt.value}"


for _what in What:
    _page_route(_what)
    for _fmt in Format:
        _file_route(_what, _fmt)


FilterText = Annotated[str | None, Field(max_length=64)]


class ExportFilters(StrictBody):
    """The query routes' filters, named as they are there; every one optional. A closed
    set: a name the queries do not know is refused (`unknown_field`), as on the query routes."""

    model_config = ConfigDict(populate_by_name=True)

    month: FilterText = None
    day: FilterText = None
    date_from: Annotated[str | None, Field(alias="from", max_length=10)] = None
    date_to: Annotated[str | None, Field(alias="to", max_length=10)] = None
    product: FilterText = None
    channel: FilterText = None
    status: FilterText = None
    counterparty: FilterText = None
    kind: FilterText = None
    owner: FilterText = None


class ExportIn(StrictBody):
    what: What
    format: Format = Format.CSV
    filters: ExportFilters = Field(default_factory=ExportFilters)


@router.post(
    "/bills/{merchant}/exports",
    status_code=202,
    dependencies=[Depends(admit)],
    responses=RESPONSES,
)
async def create_export(
    merchant: str,
    body: ExportIn,
    principal: Reader,
    jobs: Jobs,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> Any:
    """Queue an export; poll its status for progress and, once done, its download link.
    The same `Idempotency-Key` again answers with the same job."""
    merchant_id = _visible(principal, merchant)
    try:
        return await run_in_threadpool(
            jobs.submit,
            merchant_id,
            what=body.what.value,
            fmt=body.format.value,
            filters=body.filters.model_dump(by_alias=True, exclude_none=True),
            request_key=idempotency_key,
        )
    except Rejected as refused:
        if refused.code != "too_many_exports":
            raise
        return _refusal(refused)


@router.get("/bills/{merchant}/exports/{export_id}")
def get_export(merchant: str, export_id: str, principal: Reader, jobs: Jobs) -> dict[str, Any]:
    return jobs.get(_visible(principal, merchant), export_id)


@router.get("/bills/exports/download/{token}")
def download(token: str, jobs: Jobs) -> Response:
    """The file of a finished export. The link is the credential (it is signed and
    expires), so a browser can fetch it without an API key."""
    try:
        found = jobs.download(token)
    except Rejected as refused:
        if refused.code not in _STATUS:
            raise
        return _refusal(refused)
    return StreamingResponse(
        jobs.chunks(found),  # decrypted chunk by chunk as the client reads
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.file_name}"'},
    )
