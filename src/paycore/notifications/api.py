"""HTTP routes of merchant notifications: the events, their delivery log, manual resend."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from paycore.notifications.model import (
    EVENTS_PAGE_DEFAULT,
    EVENTS_PAGE_MAX,
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
)
from paycore.notifications.service import Notifications
from paycore.security.api import require
from paycore.security.model import Principal
from paycore.web.bodies import JsonRoute

router = APIRouter(prefix="/v1/notifications", tags=["notifications"], route_class=JsonRoute)


async def get_notifications(request: Request) -> Notifications:
    notifications: Notifications = request.app.state.notifications
    return notifications


NotificationsDep = Annotated[Notifications, Depends(get_notifications)]
Reader = Annotated[Principal, Depends(require("payments:read"))]
Writer = Annotated[Principal, Depends(require("payments:write"))]


class DeliveryOut(BaseModel):
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            status=d.status.value,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
        )


class AttemptOut(BaseModel):
    id: str
    attempted_at: datetime
    url: str
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            id=a.id,
            attempted_at=a.attempted_at,
            url=a.url,
            status_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
        )


class EventOut(BaseModel):
    id: str
    merchant_id: str
    type: str
    object_id: str
    created_at: datetime
    data: dict[str, Any]
    delivery: DeliveryOut

    @classmethod
    def of(cls, e: Event, d: Delivery) -> EventOut:
        return cls(
            id=e.id,
            merchant_id=e.merchant_id,
            type=e.type,
            object_id=e.object_id,
            created_at=e.created_at,
            data=dict(e.payload),
            delivery=DeliveryOut.of(d),
        )


class EventDetailOut(EventOut):
    attempts: list[AttemptOut]
    """Newest first."""


class EventPageOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None


@router.get("/events", response_model=EventPageOut)
def list_events(
    notifications: NotificationsDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=EVENTS_PAGE_MAX)] = EVENTS_PAGE_DEFAULT,
    after: str | None = None,
    status: DeliveryStatus | None = None,
) -> EventPageOut:
    """The caller's events, newest first; pass `next_cursor` as `after` for the next page."""
    page = notifications.list_events(
        merchant_id=principal.merchant_id, limit=limit, after=after, status=status
    )
    return EventPageOut(
        events=[EventOut.of(v.event, v.delivery) for v in page.events],
        next_cursor=page.next_cursor,
    )


@router.get("/events/{event_id}", response_model=EventDetailOut)
def get_event(event_id: str, notifications: NotificationsDep, principal: Reader) -> EventDetailOut:
    """One event with its delivery state and its most recent attempts."""
    detail = notifications.get_event(event_id, merchant_id=principal.merchant_id)
    base = EventOut.of(detail.event, detail.delivery)
    return EventDetailOut(**base.model_dump(), attempts=[AttemptOut.of(a) for a in detail.attempts])


@router.post("/events/{event_id}/resend", status_code=202, response_model=DeliveryOut)
def resend_event(event_id: str, notifications: NotificationsDep, principal: Writer) -> DeliveryOut:
    """Send the event again soon, with the same id and body (receivers dedupe by id)."""
    return DeliveryOut.of(notifications.resend(event_id, merchant_id=principal.merchant_id))
