"""HTTP routes of the host-to-host bank link, for platform keys only: export the waiting
payouts as a pain.001 file, read a file again, apply a pain.002 status report, collect the
channel's inbound folder now (the server also does it on every tick of its flows worker).

A pain.001 names beneficiaries and their accounts in clear (the bank must read it), so
handing one to a person is a reveal: the key needs `pii:reveal` and a reason, and each
file handed out is one audit record (security/reveal.py). The file is kept sealed at rest
and opened here only, after the export and before the audit record (a file that does not
open, `file_tampered`, is handed to no one and so not audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from paycore.errors import Rejected
from paycore.recon.h2h_outbound import PAYOUT_FILE_FIELDS
from paycore.recon.h2h_service import H2hFiles, h2h_channel, h2h_files
from paycore.recon.pain import REPORT_BYTES_MAX, malformed
from paycore.security.api import require, require_platform
from paycore.security.audit import AuditAction, check_reason
from paycore.security.model import Principal, Scope
from paycore.web import request_id
from paycore.web.bodies import JsonRoute, StrictBody
from paycore.web.openapi import raw_body

router = APIRouter(prefix="/v1/recon/h2h", tags=["recon"], route_class=JsonRoute)

Reader = Annotated[Principal, Depends(require("payments:read"))]
Writer = Annotated[Principal, Depends(require("payments:write"))]
MsgId = Annotated[str, Field(min_length=1, max_length=35)]
XML = "application/xml"


class ExportIn(StrictBody):
    msg_id: MsgId | None = None  # hand out this earlier file again
    reason: Annotated[str | None, Field(max_length=500)] = None
    """Why a person takes the beneficiaries' data (10-500 characters): audited."""


def _service(request: Request) -> H2hFiles:
    return h2h_files(request.app.state.runtime)


def _file_response(
    request: Request, channel: str, msg_id: str | None, principal: Principal, reason: str | None
) -> Response:
    runtime = request.app.state.runtime
    if not principal.can(Scope.PII_REVEAL):  # refused before anything is exported
        raise Rejected("forbidden", f"this API key lacks the {Scope.PII_REVEAL} scope")
    check_reason(reason)
    bank = h2h_channel(runtime.channels.registry, channel)
    service = _service(request)
    exported = service.export(bank, msg_id=msg_id)
    content = service.open_file(exported)
    runtime.reveals.disclose(
        principal,
        action=AuditAction.H2H_FILE,
        object_type="h2h_file",
        object_id=exported.msg_id,
        fields=PAYOUT_FILE_FIELDS,
        reason=reason,
        request_id=request_id.current.get(),
    )
    return Response(
        content=content,
        media_type=XML,
        status_code=201 if exported.new else 200,
        headers={"X-Msg-Id": exported.msg_id, "X-Tx-Count": str(exported.tx_count)},
    )


@router.post("/{channel}/exports")
async def export(request: Request, channel: str, body: ExportIn, principal: Writer) -> Response:
    """The waiting payouts as a new pain.001 (201), or the last file again (200)."""
    require_platform(principal)
    return await run_in_threadpool(
        _file_response, request, channel, body.msg_id, principal, body.reason
    )


@router.get("/{channel}/files/{msg_id}")
async def get_file(
    request: Request,
    channel: str,
    msg_id: str,
    principal: Reader,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    require_platform(principal)
    return await run_in_threadpool(_file_response, request, channel, msg_id, principal, reason)


@router.post("/status-reports", openapi_extra=raw_body("application/xml"))
async def apply_status_report(request: Request, principal: Writer) -> dict[str, Any]:
    """A pain.002 in the request body (application/xml): decide and settle its payouts."""
    require_platform(principal)
    data = await _report_body(request)
    outcome = await run_in_threadpool(_service(request).apply_status_report_bytes, data)
    return outcome.view()


async def _report_body(request: Request) -> bytes:
    """The body, refused as soon as it passes a report's limit (not held whole first)."""
    blocks: list[bytes] = []
    size = 0
    async for block in request.stream():
        size += len(block)
        if size > REPORT_BYTES_MAX:
            raise malformed(f"over {REPORT_BYTES_MAX} bytes", field="size")
        blocks.append(block)
    return b"".join(blocks)


def _collect(request: Request, channel: str) -> dict[str, Any]:
    runtime = request.app.state.runtime
    bank = h2h_channel(runtime.channels.registry, channel)
    return {"files": [item.view() for item in runtime.recon_daily.inbox.collect(bank)]}


@router.post("/{channel}/inbox")
async def collect_inbox(request: Request, channel: str, principal: Writer) -> dict[str, Any]:
    """Apply and move every whole file waiting in the channel's `files_dir/inbound/`."""
    require_platform(principal)
    return await run_in_threadpool(_collect, request, channel)
