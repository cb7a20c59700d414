"""HTTP routes of reconciliation (platform keys only): imports, runs and breaks."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParameter
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from paycore import limits
from paycore.errors import Rejected
from paycore.recon.breaks import Adjustment
from paycore.recon.service import BREAKS_PAGE_MAX, Recon
from paycore.recon.views import break_view, import_view, view
from paycore.security.api import require, require_platform
from paycore.security.model import Principal
from paycore.web.bodies import JsonRoute, StrictBody
from paycore.web.openapi import raw_body

router = APIRouter(prefix="/v1/recon", tags=["recon"], route_class=JsonRoute)

UPLOAD_BYTES_MAX = 2 << 30
"""A day's statement of millions of lines is a few hundred MB; 2 GiB is plenty."""


async def get_recon(request: Request) -> Recon:
    recon: Recon = request.app.state.runtime.recon
    return recon


ReconDep = Annotated[Recon, Depends(get_recon)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Writer = Annotated[Principal, Depends(require("payments:write"))]
Text = Annotated[str, Field(min_length=1, max_length=64)]
Note = Annotated[str, Field(max_length=1000)]


class RunIn(StrictBody):
    source: Text
    business_date: date


class InvestigateIn(StrictBody):
    note: Note = ""


class AdjustmentIn(StrictBody):
    debit_account_id: Text
    credit_account_id: Text
    amount: Annotated[int, Field(strict=True, gt=0)]


class ResolveIn(StrictBody):
    note: Note
    adjustment: AdjustmentIn | None = None


@router.post(
    "/imports",
    openapi_extra=raw_body("application/octet-stream", "text/csv", "application/xml"),
    responses={201: {"description": "Imported; the same file again answers 200."}},
)
async def import_statement(
    request: Request,
    response: Response,
    recon: ReconDep,
    principal: Writer,
    format: Annotated[str, Query(min_length=1, max_length=16)],
    source: Annotated[str, Query(min_length=1, max_length=64)],
) -> dict[str, Any]:
    """The statement file is the raw request body; the same file again answers 200 with
    the earlier import."""
    require_platform(principal)
    with tempfile.TemporaryDirectory(prefix="paycore-recon-") as folder:
        path = Path(folder) / "statement"
        await _save_body(request, path)
        found, created = await run_in_threadpool(
            recon.import_file, path, format=format, source=source
        )
    response.status_code = 201 if created else 200
    return import_view(found)


async def _save_body(request: Request, path: Path) -> None:
    size = 0
    with path.open("wb") as out:
        async for block in request.stream():
            size += len(block)
            if size > UPLOAD_BYTES_MAX:
                raise Rejected("statement_too_large", f"at most {UPLOAD_BYTES_MAX} bytes")
            out.write(block)
    if size == 0:
        raise Rejected("empty_statement", "send the statement file as the request body")


@router.get("/imports/{import_id}")
async def get_import(import_id: str, recon: ReconDep, principal: Reader) -> dict[str, Any]:
    require_platform(principal)
    return import_view(await run_in_threadpool(recon.get_import, import_id))


@router.post("/runs", status_code=201)
async def start_run(body: RunIn, recon: ReconDep, principal: Writer) -> dict[str, Any]:
    require_platform(principal)
    found = await run_in_threadpool(
        lambda: recon.run(source=body.source, business_date=body.business_date)
    )
    return view(found)


@router.get("/runs/{run_id}")
async def get_run(run_id: str, recon: ReconDep, principal: Reader) -> dict[str, Any]:
    require_platform(principal)
    return view(await run_in_threadpool(recon.get_run, run_id))


@router.get("/breaks")
async def list_breaks(
    recon: ReconDep,
    principal: Reader,
    status: str | None = None,
    type: str | None = None,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=BREAKS_PAGE_MAX)] = 100,
    after: Annotated[int | None, Query(ge=0, le=limits.INTEGER_COLUMN_MAX)] = None,
) -> dict[str, Any]:
    require_platform(principal)
    rows = await run_in_threadpool(
        lambda: recon.list_breaks(
            status=status, type_=type, source=source, limit=limit, after=after
        )
    )
    return {"data": [break_view(r) for r in rows], "next_after": rows[-1]["id"] if rows else None}


BreakId = Annotated[int, PathParameter(ge=1, le=limits.INTEGER_COLUMN_MAX)]


@router.get("/breaks/{break_id}")
async def get_break(break_id: BreakId, recon: ReconDep, principal: Reader) -> dict[str, Any]:
    require_platform(principal)
    return break_view(await run_in_threadpool(recon.get_break, break_id))


@router.post("/breaks/{break_id}/investigate")
async def investigate(
    break_id: BreakId, body: InvestigateIn, recon: ReconDep, principal: Writer
) -> dict[str, Any]:
    require_platform(principal)
    actor = principal_name(principal)
    found = await run_in_threadpool(
        lambda: recon.investigate(break_id, actor=actor, note=body.note)
    )
    return break_view(found)


@router.post("/breaks/{break_id}/resolve")
async def resolve(
    break_id: BreakId, body: ResolveIn, recon: ReconDep, principal: Writer
) -> dict[str, Any]:
    require_platform(principal)
    adjustment = None
    if body.adjustment is not None:
        adjustment = Adjustment(
            debit_account_id=body.adjustment.debit_account_id,
            credit_account_id=body.adjustment.credit_account_id,
            amount=body.adjustment.amount,
        )
    actor = principal_name(principal)
    found = await run_in_threadpool(
        lambda: recon.resolve(break_id, actor=actor, note=body.note, adjustment=adjustment)
    )
    return break_view(found)


def principal_name(principal: Principal) -> str:
    """Who acted, for the audit trail: the API key's id."""
    return f"key:{principal.key_id}"
