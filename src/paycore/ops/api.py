"""GET /v1/ops/incidents, GET /v1/ops/incidents/{id}, POST /v1/ops/incidents/{id}/review:
platform admins only, like the rest of /v1/ops."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from paycore.errors import Rejected
from paycore.ops.incidents import Incidents
from paycore.ops.model import (
    INCIDENTS_PAGE_DEFAULT,
    INCIDENTS_PAGE_MAX,
    REVIEW_TEXT_MAX,
    REVIEWER_MAX,
    Grade,
    Incident,
    IncidentStatus,
    parse_grade,
)
from paycore.security.api import require
from paycore.security.model import Principal
from paycore.web.bodies import BusinessInstant, JsonRoute, StrictBody

router = APIRouter(prefix="/v1/ops", tags=["ops"], route_class=JsonRoute)

Admin = Annotated[Principal, Depends(require("admin"))]
ReviewText = Annotated[str | None, Field(max_length=REVIEW_TEXT_MAX)]


def get_incidents(request: Request) -> Incidents:
    incidents: Incidents = request.app.state.runtime.incidents
    return incidents


IncidentsDep = Annotated[Incidents, Depends(get_incidents)]


class ReviewIn(StrictBody):
    grade: Annotated[str | None, Field(max_length=1)] = None
    """A to D; leave out to confirm the automatic grade (or the last review's)."""
    cause: ReviewText = None
    handling: ReviewText = None
    notes: ReviewText = None
    by: Annotated[str | None, Field(min_length=1, max_length=REVIEWER_MAX)] = None
    """Who reviewed; the API key's id when left out."""


@router.get("/incidents")
async def list_incidents(
    incidents: IncidentsDep,
    _admin: Admin,
    opened_from: Annotated[BusinessInstant | None, Query(alias="from")] = None,
    opened_to: Annotated[BusinessInstant | None, Query(alias="to")] = None,
    status: IncidentStatus | None = None,
    grade: Annotated[str | None, Query(max_length=1)] = None,
    awaiting_review: bool = False,
    limit: Annotated[int, Query(ge=1, le=INCIDENTS_PAGE_MAX)] = INCIDENTS_PAGE_DEFAULT,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Incidents opened in [from, to), newest first; `awaiting_review=true`: not yet graded
    by a person. Pass `next_cursor` as `after` for the next page."""
    page = await run_in_threadpool(
        incidents.list,
        opened_from=_aware(opened_from, "from"),
        opened_to=_aware(opened_to, "to"),
        status=status,
        grade=parse_grade(grade) if grade else None,
        awaiting_review=awaiting_review,
        limit=limit,
        after=after,
    )
    return {"data": [view(i) for i in page.incidents], "next_cursor": page.next_cursor}


@router.get("/incidents/{incident_id}")
async def get_incident(incident_id: str, incidents: IncidentsDep, _admin: Admin) -> dict[str, Any]:
    """One incident with its impact, grades, review and timeline."""
    return view(await run_in_threadpool(incidents.get, incident_id), timeline=True)


@router.post("/incidents/{incident_id}/review")
async def review_incident(
    incident_id: str, body: ReviewIn, incidents: IncidentsDep, admin: Admin
) -> dict[str, Any]:
    """Grade a closed incident (again) and write its cause, handling and notes; a field
    left out keeps what an earlier review wrote."""
    reviewed = await run_in_threadpool(
        lambda: incidents.review(
            incident_id,
            by=body.by or admin.key_id,
            grade=parse_grade(body.grade) if body.grade else None,
            cause=body.cause,
            handling=body.handling,
            notes=body.notes,
        )
    )
    return view(reviewed, timeline=True)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Rejected("invalid_period", f"{name} carries a time zone (UTC: ...Z)")
    return value


def _grade(grade: Grade | None) -> str | None:
    return grade.value if grade else None


def view(incident: Incident, *, timeline: bool = False) -> dict[str, Any]:
    impact = incident.impact
    found: dict[str, Any] = {
        "id": incident.id,
        "key": incident.key,
        "kind": incident.kind,
        "source": incident.source.value,
        "severity": incident.severity.value,
        "status": incident.status.value,
        "summary": incident.summary,
        "opened_at": incident.opened_at,
        "last_fired_at": incident.last_fired_at,
        "closed_at": incident.closed_at,
        "duration_s": incident.duration_s,
        "auto_grade": incident.auto_grade.value,
        "grade": _grade(incident.grade),
        "awaiting_review": incident.awaiting_review,
        "impact": {
            "orders": impact.orders,
            "merchants": impact.merchants,
            "amount_minor": dict(impact.amount_minor),
            "money_mismoved_minor": dict(impact.money_mismoved_minor),
            "checks_failed": impact.checks_failed,
            "traffic_share_ppm": impact.traffic_share_ppm,
            "duration_s": impact.duration_s,
            "products": list(impact.products),
            "channels": list(impact.channels),
            "kinds": list(impact.kinds),
        },
        "cause": incident.cause,
        "handling": incident.handling,
        "review_notes": incident.review_notes,
        "reviewed_at": incident.reviewed_at,
        "reviewed_by": incident.reviewed_by,
    }
    if timeline:
        found["timeline"] = [
            {"at": e.at, "kind": e.kind, "text": e.text} for e in incident.timeline
        ]
    return found
