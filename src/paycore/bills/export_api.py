"""HTTP routes of the bills slice."""

from __future__ import annotations

from fastapi import APIRouter

from paycore.web.bodies import JsonRoute

router = APIRouter(prefix="/v1", tags=["bills"], route_class=JsonRoute)
