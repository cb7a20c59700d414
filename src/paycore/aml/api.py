"""HTTP routes of AML cases (`/v1/aml/cases`): for the platform's AML analysts only.

Every route needs ANALYST (`admin` until a narrower AML scope exists), which no merchant key
can hold, so a merchant key gets 403 `forbidden` on every route, before any case is read:
it learns nothing, not even whether a case exists (an AML case must never tip off its
subject). Notes are opened only for a key that `can(NOTES)`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from paycore.aml.cases import Cases, build_cases
from paycore.aml.cases_model import (
    ASSIGNEE_LENGTH_MAX,
    CASES_PAGE_DEFAULT,
    CASES_PAGE_MAX,
    CONCLUSION_LENGTH_MAX,
    NOTE_LENGTH_MAX,
    Case,
    CaseEvent,
)
from paycore.aml.str_draft import markdown
from paycore.security.api import require, require_platform
from paycore.security.model import Principal, Scope
from paycore.web.bodies import JsonRoute, StrictBody

ANALYST = Scope.ADMIN
NOTES = Scope.ADMIN
"""The scope that opens notes; a separate grant once AML gets scopes of its own."""

router = APIRouter(prefix="/v1/aml/cases", tags=["aml"], route_class=JsonRoute)


async def _analyst(principal: Annotated[Principal, Depends(require(ANALYST))]) -> Principal:
    require_platform(principal)
    return principal


Analyst = Annotated[Principal, Depends(_analyst)]
Version = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]
CaseId = Annotated[str, Field(min_length=1, max_length=64)]


def get_cases(request: Request) -> Cases:
    """The runtime's service if it has one, else one built on its engine, cipher and clock."""
    state = request.app.state
    found: Cases | None = getattr(state, "aml_cases", None)
    if found is None:
        runtime = state.runtime
        found = getattr(runtime, "aml_cases", None) or build_cases(
            runtime.engine, runtime.cipher, runtime.clock, runtime.settings
        )
        state.aml_cases = found
    return found


CasesDep = Annotated[Cases, Depends(get_cases)]


class TransitionIn(StrictBody):
    action: Literal["investigate", "report", "dismiss"]
    version: Version
    note: Annotated[str, Field(max_length=NOTE_LENGTH_MAX)] = ""


class NoteIn(StrictBody):
    note: Annotated[str, Field(min_length=1, max_length=NOTE_LENGTH_MAX)]
    version: Version


class AssignIn(StrictBody):
    assignee: Annotated[str, Field(min_length=1, max_length=ASSIGNEE_LENGTH_MAX)]
    version: Version


class DraftIn(StrictBody):
    conclusion: Annotated[str, Field(min_length=1, max_length=CONCLUSION_LENGTH_MAX)]
    measures: Annotated[str, Field(max_length=NOTE_LENGTH_MAX)] = ""
    version: Version


def case_view(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "subject_type": case.subject_type,
        "subject_id": case.subject_id,
        "score": case.score,
        "typologies": list(case.typologies),
        "reasons": [dict(r) for r in case.reasons],
        "status": case.status.value,
        "opened_at": case.opened_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "assignee": case.assignee,
        "version": case.version,
        "previous_case_id": case.previous_case_id,
    }


def event_view(event: CaseEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "details": dict(event.details),
        "has_note": event.has_note,
        "note": event.note,
    }


def _actor(principal: Principal) -> str:
    return f"key:{principal.key_id}"


@router.get("")
async def list_cases(
    cases: CasesDep,
    _principal: Analyst,
    status: Annotated[str | None, Query(max_length=16)] = None,
    subject_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=CASES_PAGE_MAX)] = CASES_PAGE_DEFAULT,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Cases, newest first; `after` is the `next_after` of the page before."""
    found = await run_in_threadpool(
        lambda: cases.list_cases(status=status, subject_id=subject_id, after=after, limit=limit)
    )
    next_after = found[-1].id if len(found) == limit else None
    return {"data": [case_view(c) for c in found], "next_after": next_after}


@router.get("/{case_id}")
async def get_case(case_id: str, cases: CasesDep, principal: Analyst) -> dict[str, Any]:
    """The case with its whole trail; notes in clear for a key with the notes scope."""
    case = await run_in_threadpool(cases.get, case_id)
    opened = principal.can(NOTES)
    events = await run_in_threadpool(lambda: cases.events(case_id, open_notes=opened))
    return {**case_view(case), "events": [event_view(e) for e in events]}


@router.post("/{case_id}/transitions")
async def transition(
    case_id: str, body: TransitionIn, cases: CasesDep, principal: Analyst
) -> dict[str, Any]:
    """investigate (open), report (investigating, after a draft), dismiss (with a note)."""
    case = await run_in_threadpool(
        lambda: cases.transition(
            case_id, body.action, version=body.version, actor=_actor(principal), note=body.note
        )
    )
    return case_view(case)


@router.post("/{case_id}/notes", status_code=201)
async def add_note(case_id: str, body: NoteIn, cases: CasesDep, principal: Analyst) -> Any:
    case = await run_in_threadpool(
        lambda: cases.add_note(
            case_id, note=body.note, version=body.version, actor=_actor(principal)
        )
    )
    return case_view(case)


@router.post("/{case_id}/assign")
async def assign(case_id: str, body: AssignIn, cases: CasesDep, principal: Analyst) -> Any:
    case = await run_in_threadpool(
        lambda: cases.assign(
            case_id, assignee=body.assignee, version=body.version, actor=_actor(principal)
        )
    )
    return case_view(case)


@router.post("/{case_id}/str", status_code=201)
async def draft_str(case_id: str, body: DraftIn, cases: CasesDep, principal: Analyst) -> Any:
    """A new draft of the case's suspicious-transaction report; answers the draft."""
    return await run_in_threadpool(
        lambda: cases.draft_str(
            case_id,
            conclusion=body.conclusion,
            measures=body.measures,
            version=body.version,
            actor=_actor(principal),
        )
    )


@router.get("/{case_id}/str.json")
async def str_json(case_id: str, cases: CasesDep, _principal: Analyst) -> JSONResponse:
    document = await run_in_threadpool(cases.str_document, case_id)
    return JSONResponse(document)


@router.get("/{case_id}/str.md")
async def str_markdown(case_id: str, cases: CasesDep, _principal: Analyst) -> Response:
    document = await run_in_threadpool(cases.str_document, case_id)
    return Response(markdown(document), media_type="text/markdown; charset=utf-8")
