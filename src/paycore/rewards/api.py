"""HTTP routes of the rewards slice."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["rewards"])
